"""Assets: upload (inspect, dedup, quota), list, read, edit, delete."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from control_api.core import media_content as mc
from control_api.core import validation as v
from control_api.errors import (
    Conflict,
    ContentTypeNotAllowed,
    EmptyUpload,
    MediaStorageError,
    QuotaExceeded,
)
from control_api.media import ByteSource, MediaStore
from control_api.services.pages import Page
from control_api.store import content, media_refs
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.measurements import MEASURED_MEDIA
from control_api.store.measurements import PENDING as MEASURE_PENDING
from control_api.store.models import Asset

log = logging.getLogger(__name__)
_CONTENT_TYPES = ", ".join(
    f"{media_type}/{subtype}"
    for media_type, subtypes in mc.CONTENT_TYPES.items()
    for subtype in sorted(subtypes)
)
EDITABLE = ("title", "emergency", "valid_from", "valid_until", "duration_ms")


@dataclass(frozen=True)
class UploadKind:
    content_type: str  # lower case, without parameters
    media_type: str  # "audio" | "video" | "image"


@dataclass(frozen=True)
class AssetFields:
    """What the director says of an upload (the bytes say the rest)."""

    filename: str | None = None
    title: str | None = None
    emergency: bool = False
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Uploaded:
    asset: Asset
    created: bool  # False: the tenant already had these bytes (this is that asset)


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int
    quota_bytes: int  # 0: no quota


def upload_kind(content_type: str | None) -> UploadKind:
    """The declared type of an upload, or ContentTypeNotAllowed (before a byte is read)."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    media_type = mc.media_type_of(declared)
    if media_type is None:
        raise ContentTypeNotAllowed(
            f"Content-Type must be one of {_CONTENT_TYPES}, got {declared[:80]!r}"
        )
    return UploadKind(declared, media_type)


def upload(
    db: Database,
    media: MediaStore,
    tenant_id: str,
    kind: UploadKind,
    fields: AssetFields,
    *,
    body: Callable[[], tuple[ByteSource, int | None]],
    now: datetime,
    limits: UploadLimits,
    keep_revisions: int,
) -> Uploaded:
    """Receive, inspect, then (under the tenant's lock) dedup, quota and commit.

    ``body`` opens the upload's bytes and says their announced length (None:
    unknown); it is called once the fields are known to be valid. Every refusal
    leaves nothing behind: the temp file is discarded in the ``finally`` (a no-op
    once ``commit`` renamed it into the store).
    """
    # Everything stored with the asset is checked before a byte of media is
    # written: a refusal after ``receive`` would leave the file orphaned.
    v.check_window(fields.valid_from, fields.valid_until, "valid_until")
    stream, content_length = body()
    if limits.quota_bytes and content_length is not None:
        _check_quota_before_reading(db, tenant_id, content_length, limits.quota_bytes)
    received = media.receive(stream, limits.max_upload_bytes, content_length)
    try:
        if received.size_bytes == 0:
            raise EmptyUpload()
        duration_ms = media.inspect(received, kind.media_type)
        asset = Asset(
            id=repo.new_id("ast"),
            tenant_id=tenant_id,
            sha256=received.sha256,
            size_bytes=received.size_bytes,
            media_type=kind.media_type,
            content_type=kind.content_type,
            filename=fields.filename,
            title=fields.title,
            duration_ms=duration_ms,
            valid_from=fields.valid_from,
            valid_until=fields.valid_until,
            emergency=fields.emergency,
            created_at=now,
            updated_at=now,
            # The background measurers take it from here (control_api.measuring).
            measure_state=MEASURE_PENDING if kind.media_type in MEASURED_MEDIA else None,
        )
        try:
            with db.write() as s:
                # Uploads of one tenant take turns from here to commit, so
                # two parallel ones cannot both fit in the last free bytes.
                media_refs.lock_tenant(s, tenant_id)
                existing = content.asset_by_sha(s, tenant_id, received.sha256)
                if existing is not None:
                    return Uploaded(existing, created=False)
                refusal = mc.quota_refusal(
                    media_refs.tenant_used_bytes(s, tenant_id),
                    received.size_bytes,
                    limits.quota_bytes,
                )
                if refusal is not None:
                    raise QuotaExceeded(refusal)
                s.add(asset)
                s.flush()
                repo.record_changes(s, tenant_id, [("asset", asset.id, False)], keep_revisions)
                # Last: a delete of the same bytes in another tenant waits for
                # this commit before it may unlink the file renamed here.
                media_refs.lock_media(s, received.sha256)
                media.commit(received)
        except IntegrityError:
            # The same bytes uploaded concurrently: the other upload won.
            with db.read() as s:
                existing = content.asset_by_sha(s, tenant_id, received.sha256)
            if existing is None:
                raise
            return Uploaded(existing, created=False)
    finally:
        media.discard(received)
    return Uploaded(asset, created=True)


def _check_quota_before_reading(
    db: Database, tenant_id: str, content_length: int, quota_bytes: int
) -> None:
    """QuotaExceeded before a byte is read when the announced length cannot fit, unless
    an asset of the tenant has that length (then it may be a re-upload, decided
    after hashing)."""
    with db.read() as s:
        refusal = mc.quota_refusal(
            media_refs.tenant_used_bytes(s, tenant_id), content_length, quota_bytes
        )
        if refusal is not None and not media_refs.tenant_has_asset_of_size(
            s, tenant_id, content_length
        ):
            raise QuotaExceeded(refusal)


def list_assets(
    db: Database, tenant_id: str, limit: int, after: str | None, *, text: str | None = None
) -> Page[Asset]:
    """One keyset page in id order; ``text`` keeps assets whose title or file name
    contains it (case-insensitive, ``%`` and ``_`` literal)."""
    with db.read() as s:
        rows, nxt = repo.page_by_id(
            s, Asset, tenant_id, limit, after, where=content.asset_text_filter(text)
        )
    return Page(rows, nxt)


def playlists_using(db: Database, tenant_id: str, asset_id: str) -> list[tuple[str, str]]:
    """(id, name) of the tenant's playlists that use the asset, by name: what
    ``delete_asset``'s ``asset_in_use`` refusal is about. NotFound: no such asset."""
    with db.read() as s:
        content.get_asset(s, tenant_id, asset_id)
        return content.playlists_using_asset(s, tenant_id, asset_id)


def assets_by_id(db: Database, tenant_id: str, asset_ids: Iterable[str]) -> dict[str, Asset]:
    """The tenant's assets among ``asset_ids``, by id; ids of no asset of the tenant
    are left out."""
    wanted = set(asset_ids)
    if not wanted:
        return {}
    with db.read() as s:
        return {a.id: a for a in content.load_by_ids(s, Asset, tenant_id, wanted)}


def asset_titles(db: Database, tenant_id: str, asset_ids: Iterable[str]) -> dict[str, str]:
    """The tenant's assets among ``asset_ids`` -> their title (the file name when
    untitled); ids of no asset of the tenant are left out."""
    wanted = set(asset_ids)
    if not wanted:
        return {}
    with db.read() as s:
        rows = content.load_by_ids(s, Asset, tenant_id, wanted)
    return {a.id: a.title or a.filename or a.id for a in rows}


def get_asset(db: Database, tenant_id: str, asset_id: str) -> Asset:
    with db.read() as s:
        return content.get_asset(s, tenant_id, asset_id)


def edit_asset(
    db: Database,
    tenant_id: str,
    asset_id: str,
    changes: dict[str, Any],
    *,
    now: datetime,
    keep_revisions: int,
) -> Asset:
    """Apply ``changes`` (valid values of :data:`EDITABLE` fields) to the asset."""
    repo.check_editable(changes, EDITABLE)
    with db.write() as s:
        asset = content.get_asset(s, tenant_id, asset_id, for_update=True)
        root_before = repo.view_root(asset)
        v.check_window(
            changes.get("valid_from", asset.valid_from),
            changes.get("valid_until", asset.valid_until),
            "valid_until",
        )
        repo.apply_changes(asset, changes, now)
        repo.record_changes(s, tenant_id, [("asset", asset.id, False, root_before)], keep_revisions)
    return asset


def delete_asset(
    db: Database, media: MediaStore, tenant_id: str, asset_id: str, keep_revisions: int
) -> None:
    """Conflict ``asset_in_use`` while a playlist uses it; its file goes with its last use."""
    with db.write() as s:
        asset = content.get_asset(s, tenant_id, asset_id, for_update=True)
        if content.asset_in_use(s, asset.id):
            raise Conflict("a playlist uses this asset", "asset_in_use")
        sha256 = asset.sha256
        s.delete(asset)
        repo.record_changes(
            s, tenant_id, [("asset", asset_id, True, repo.view_root(asset))], keep_revisions
        )
    # After the commit: unlinking first, a failed commit would keep an asset
    # without its file. A failure here leaves the file to ``media gc``.
    try:
        media_refs.release_media(db, media, sha256)
    except (MediaStorageError, SQLAlchemyError):
        log.warning("could not remove media %s; media gc will", sha256, exc_info=True)


def media_of(db: Database, tenant_id: str, sha256: str) -> Asset | None:
    """The tenant's asset of these bytes (None: not the tenant's, or no such bytes)."""
    if not v.is_sha256(sha256):
        return None
    with db.read() as s:
        return content.asset_by_sha(s, tenant_id, sha256)
