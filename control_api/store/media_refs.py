"""Who uses a stored media file, and how much a tenant stores. Scoped queries and locks.

A stored file (``media/sha256/<hash>``) is shared by every tenant with an asset of
those bytes. Whoever adds or drops a reference to it holds :func:`lock_media`
for its hash until commit: an upload renames its file into place inside that
transaction, a delete (or ``media gc``) checks :func:`media_in_use` and unlinks
inside its own, after the asset's row is gone. So a file is removed only when no
committed asset uses it and no upload of the same bytes sits between its rename
and its commit. (A crash between a rename and its commit leaves an unused file,
which ``lomuz-control media gc`` removes; never an asset without its file.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.media import MediaStore
from control_api.store.db import Database
from control_api.store.models import Asset, Tenant


def lock_media(s: Session, sha256: str) -> None:
    """Serialise writers of one stored file until commit.

    PostgreSQL: a transaction advisory lock on the hash's first 63 bits. SQLite:
    nothing to do, the write session's ``BEGIN IMMEDIATE`` serialises all writers.
    """
    if s.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
        s.execute(select(func.pg_advisory_xact_lock(key)))


def media_in_use(s: Session, sha256: str) -> bool:
    """True when an asset of any tenant has these bytes."""
    return s.scalars(select(Asset.id).where(Asset.sha256 == sha256).limit(1)).first() is not None


def media_hashes(s: Session) -> set[str]:
    """Every sha256 some asset (of any tenant) uses."""
    return set(s.scalars(select(Asset.sha256).distinct()))


def lock_tenant(s: Session, tenant_id: str) -> None:
    """Row-lock the tenant until commit (PostgreSQL; SQLite writers are serial already),
    so that two uploads of one tenant check its quota one after the other."""
    s.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


def tenant_used_bytes(s: Session, tenant_id: str) -> int:
    """The sum of the sizes of the tenant's assets."""
    used = s.scalar(
        select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(Asset.tenant_id == tenant_id)
    )
    return int(used or 0)


def tenant_has_asset_of_size(s: Session, tenant_id: str, size_bytes: int) -> bool:
    """True when an asset of the tenant is ``size_bytes`` long: an upload of that length
    may be a re-upload of its bytes, which a quota never refuses."""
    return (
        s.scalars(
            select(Asset.id)
            .where(Asset.tenant_id == tenant_id, Asset.size_bytes == size_bytes)
            .limit(1)
        ).first()
        is not None
    )


@dataclass(frozen=True)
class Collected:
    """What :func:`collect_garbage` removed and kept."""

    temp_files: int
    temp_bytes: int
    media_files: int
    media_bytes: int
    media_kept: int


def release_media(db: Database, media: MediaStore, sha256: str) -> int:
    """Delete the stored file of ``sha256`` when no asset of any tenant uses it any
    more; returns the bytes freed. Call after the transaction that dropped a use
    has committed."""
    with db.write() as s:
        lock_media(s, sha256)
        if media_in_use(s, sha256):
            return 0
        return media.remove(sha256)


def collect_garbage(db: Database, media: MediaStore, stale_upload_s: float) -> Collected:
    """Remove stale upload temp files and every stored file no asset uses."""
    swept = media.cleanup_stale_temp(stale_upload_s)
    with db.read() as s:
        used = media_hashes(s)
    removed = freed = kept = 0
    for sha256, _size in media.stored():
        if sha256 in used:
            kept += 1
            continue
        # Re-checked under the lock: an upload of these bytes may be committing.
        released = release_media(db, media, sha256)
        if released or not media.exists(sha256):
            removed += 1
            freed += released
        else:
            kept += 1
    return Collected(swept.files, swept.bytes_freed, removed, freed, kept)
