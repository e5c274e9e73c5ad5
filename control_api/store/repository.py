"""Queries and writes, every one scoped by tenant. Callers pass the session and ``now``.

Every write that reads a row before changing it (an ``If-Match`` version check, a
merge of a PATCH with the stored values, an in-use check before a delete) loads the
row with ``for_update=True`` (:func:`get_row`): on PostgreSQL's READ COMMITTED two
editors of version 1 would otherwise both read 1 and both "win" version 2. On
SQLite the write session's ``BEGIN IMMEDIATE`` already serialises writers.

Each content write calls :func:`record_changes` inside the same transaction: it bumps
the tenant's revision (the UPDATE row-locks the tenant until commit, so revisions
commit in order and a reader never sees revision r+1 without r) and appends to the
change log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_api.core.lockout import Failures
from control_api.core.manifest import NOT_A_ROOT, View, asset_root, schedule_root
from control_api.core.validation import format_instant
from control_api.errors import Conflict, NotFound, Unprocessable
from control_api.store.models import (
    AdminToken,
    Asset,
    Change,
    Device,
    EnrollFailures,
    Play,
    Playlist,
    PlaylistItem,
    RevocationSerial,
    Schedule,
    Tenant,
)

DEFAULT_LIMIT = 100
_Row = TypeVar("_Row", Asset, Playlist, Device, Schedule)
MAX_LIMIT = 1000


def new_id(prefix: str) -> str:
    """Time-ordered opaque id, so keyset pages come out in creation order."""
    return f"{prefix}_{time.time_ns() // 1000:014x}{secrets.token_hex(6)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A 256-bit token and its stored hash."""
    token = secrets.token_urlsafe(32)
    return token, hash_secret(token)


# ---------------------------------------------------------------- tenants, tokens


@dataclass(frozen=True)
class Principal:
    kind: str  # "admin" | "device"
    tenant_id: str
    device_id: str | None = None
    token_hash: str = ""


# An admin token's first characters, kept in clear so that an operator can name
# it (``lomuz-control token revoke PREFIX``): 48 of its 256 bits, the rest stays secret.
TOKEN_PREFIX_CHARS = 8


@dataclass(frozen=True)
class TenantSummary:
    id: str
    name: str
    created_at: datetime
    admin_tokens: int


def create_tenant(s: Session, name: str, now: datetime) -> tuple[str, str]:
    """A tenant and its first admin token (plaintext, to show once)."""
    tenant_id = new_id("ten")
    s.add(Tenant(id=tenant_id, name=name, revision=0, horizon=0, created_at=now))
    s.flush()
    return tenant_id, issue_admin_token(s, tenant_id, now)


def issue_admin_token(s: Session, tenant_id: str, now: datetime) -> str:
    """A new admin token for an existing tenant; returns the plaintext (stored hashed)."""
    token, token_hash = new_token()
    while token.startswith("-"):  # 1 in 64: its prefix would read as an option on a CLI
        token, token_hash = new_token()
    s.add(
        AdminToken(
            token_hash=token_hash,
            tenant_id=tenant_id,
            prefix=token[:TOKEN_PREFIX_CHARS],
            created_at=now,
        )
    )
    return token


def tenant_exists(s: Session, tenant_id: str) -> bool:
    return s.get(Tenant, tenant_id) is not None


def list_tenants(s: Session) -> list[TenantSummary]:
    """Every tenant, oldest first, with its number of admin tokens."""
    counts = (
        select(AdminToken.tenant_id, func.count().label("n"))
        .group_by(AdminToken.tenant_id)
        .subquery()
    )
    rows = s.execute(
        select(Tenant.id, Tenant.name, Tenant.created_at, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tenant_id == Tenant.id)
        .order_by(Tenant.id)
    ).all()
    return [TenantSummary(r[0], r[1], r[2], int(r[3])) for r in rows]


def admin_tokens_matching(s: Session, tenant_id: str, text: str) -> list[AdminToken]:
    """The tenant's admin tokens that ``text`` names: a whole token (by hash, which
    also finds tokens without a stored prefix) or the first characters of one
    (at most :data:`TOKEN_PREFIX_CHARS`)."""
    whole = s.execute(
        select(AdminToken).where(
            AdminToken.tenant_id == tenant_id, AdminToken.token_hash == hash_secret(text)
        )
    ).scalars().all()
    if whole or len(text) > TOKEN_PREFIX_CHARS:
        return list(whole)
    # substr, not LIKE: "_" is a LIKE wildcard and a base64url character.
    return list(
        s.execute(
            select(AdminToken)
            .where(
                AdminToken.tenant_id == tenant_id,
                func.substr(AdminToken.prefix, 1, len(text)) == text,
            )
            .order_by(AdminToken.created_at)
        ).scalars()
    )


def revoke_admin_token(s: Session, token: AdminToken) -> int:
    """Deletes the token; returns how many admin tokens its tenant has left."""
    s.execute(delete(AdminToken).where(AdminToken.token_hash == token.token_hash))
    left = s.scalar(
        select(func.count()).select_from(AdminToken).where(AdminToken.tenant_id == token.tenant_id)
    )
    return int(left or 0)


def lookup_token(s: Session, token_hash: str) -> Principal | None:
    admin = s.get(AdminToken, token_hash)
    if admin is not None:
        return Principal("admin", admin.tenant_id, None, admin.token_hash)
    row = s.execute(
        select(Device.id, Device.tenant_id, Device.token_hash).where(
            Device.token_hash == token_hash
        )
    ).first()
    if row is None or row.token_hash is None:
        return None
    return Principal("device", row.tenant_id, row.id, row.token_hash)


def tenant_state(s: Session, tenant_id: str) -> tuple[int, int]:
    """(revision, horizon) of the tenant."""
    row = s.execute(select(Tenant.revision, Tenant.horizon).where(Tenant.id == tenant_id)).one()
    return int(row.revision), int(row.horizon)


ChangeRecord = tuple[str, str, bool] | tuple[str, str, bool, str]


def record_changes(
    s: Session, tenant_id: str, changes: Iterable[ChangeRecord], keep_revisions: int
) -> int:
    """Bump the tenant's revision and log (kind, id, deleted[, root_before]) under it.

    ``root_before`` is :func:`view_root` of the object read before it was changed;
    omit it for an object created here (it was nobody's root). An asset or schedule
    edited or deleted without it would let a delta miss a tombstone.
    """
    revision = s.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(revision=Tenant.revision + 1)
        .returning(Tenant.revision, Tenant.horizon)
    ).one()
    rev, horizon = int(revision[0]), int(revision[1])
    seen: set[tuple[str, str]] = set()
    for change in changes:
        kind, object_id, deleted = change[0], change[1], change[2]
        root_before = change[3] if len(change) == 4 else NOT_A_ROOT
        if (kind, object_id) in seen:
            continue
        seen.add((kind, object_id))
        s.add(
            Change(
                tenant_id=tenant_id,
                revision=rev,
                kind=kind,
                object_id=object_id,
                deleted=deleted,
                root_before=root_before,
            )
        )
    prune_to = rev - keep_revisions
    if prune_to - horizon >= max(1, keep_revisions // 10):
        s.execute(delete(Change).where(Change.tenant_id == tenant_id, Change.revision <= prune_to))
        s.execute(update(Tenant).where(Tenant.id == tenant_id).values(horizon=prune_to))
    return rev


def view_root(obj: Asset | Schedule) -> str:
    """What makes ``obj`` a root of device views now (read it before changing ``obj``)."""
    if isinstance(obj, Asset):
        return asset_root(obj.emergency)
    return schedule_root(obj.target_kind, obj.target_value)


def changed_since(s: Session, tenant_id: str, revision: int) -> dict[tuple[str, str], str | None]:
    """(kind, id) changed after ``revision`` → its ``root_before`` at ``revision``.

    That is the ``root_before`` of the object's first change after ``revision``.
    """
    rows = s.execute(
        select(Change.kind, Change.object_id, Change.root_before)
        .where(Change.tenant_id == tenant_id, Change.revision > revision)
        .order_by(Change.revision.desc())
    )
    # Newest first, so the first change after ``revision`` is written last.
    return {(r.kind, r.object_id): r.root_before for r in rows}


# ---------------------------------------------------------------- paging


def encode_after(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_after(value: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = "\x00"
    if "\x00" in decoded:  # never in a cursor of ours; PostgreSQL refuses it in text
        raise Unprocessable("after", "not a cursor returned by this API")
    return decoded


def page_by_id(
    s: Session, model: type[_Row], tenant_id: str, limit: int, after: str | None
) -> tuple[list[_Row], str | None]:
    stmt: Select[_Row] = select(model).where(model.tenant_id == tenant_id)
    if after:
        stmt = stmt.where(model.id > decode_after(after))
    rows = list(s.scalars(stmt.order_by(model.id).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_after(rows[limit - 1].id)
    return rows, None


# ---------------------------------------------------------------- assets


def asset_json(a: Asset) -> dict[str, Any]:
    return {
        "id": a.id,
        "sha256": a.sha256,
        "size": a.size_bytes,
        "media_type": a.media_type,
        "content_type": a.content_type,
        "title": a.title,
        "filename": a.filename,
        "duration_ms": a.duration_ms,
        "valid_from": format_instant(a.valid_from),
        "valid_until": format_instant(a.valid_until),
        "emergency": a.emergency,
        "created_at": format_instant(a.created_at),
        "updated_at": format_instant(a.updated_at),
    }


def get_row(
    s: Session, model: type[_Row], tenant_id: str, object_id: str, *, for_update: bool = False
) -> _Row:
    """The tenant's row or NotFound; ``for_update`` row-locks it until commit.

    The lock is ``FOR NO KEY UPDATE``: writers of the row queue behind each other,
    while inserts that merely reference it (a playlist item's foreign key) do not.
    """
    stmt: Select[_Row] = select(model).where(model.id == object_id, model.tenant_id == tenant_id)
    if for_update:
        # populate_existing: a row already in the session is re-read under the lock.
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    row = s.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no {model.__tablename__.removesuffix('s')} {object_id!r}")
    return row


def get_asset(s: Session, tenant_id: str, asset_id: str, *, for_update: bool = False) -> Asset:
    return get_row(s, Asset, tenant_id, asset_id, for_update=for_update)


def asset_by_sha(s: Session, tenant_id: str, sha256: str) -> Asset | None:
    return s.scalars(
        select(Asset).where(Asset.tenant_id == tenant_id, Asset.sha256 == sha256)
    ).first()


def asset_in_use(s: Session, asset_id: str) -> bool:
    return (
        s.scalars(
            select(PlaylistItem.playlist_id).where(PlaylistItem.asset_id == asset_id).limit(1)
        ).first()
        is not None
    )


# ---------------------------------------------------------------- playlists


def playlist_items(s: Session, playlist_ids: Sequence[str]) -> dict[str, list[PlaylistItem]]:
    items: dict[str, list[PlaylistItem]] = {pid: [] for pid in playlist_ids}
    for chunk in _chunks(playlist_ids):
        for item in s.scalars(
            select(PlaylistItem)
            .where(PlaylistItem.playlist_id.in_(chunk))
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position)
        ):
            items[item.playlist_id].append(item)
    return items


def playlist_json(p: Playlist, items: Sequence[PlaylistItem]) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "items": [{"asset_id": i.asset_id, "duration_ms": i.duration_ms} for i in items],
        "version": p.version,
        "created_at": format_instant(p.created_at),
        "updated_at": format_instant(p.updated_at),
    }


def get_playlist(
    s: Session, tenant_id: str, playlist_id: str, *, for_update: bool = False
) -> Playlist:
    return get_row(s, Playlist, tenant_id, playlist_id, for_update=for_update)


def set_playlist_items(
    s: Session, tenant_id: str, playlist_id: str, items: Sequence[tuple[str, int | None]]
) -> None:
    """Replace the items; every asset must belong to the tenant (else 422 naming it)."""
    wanted = sorted({asset_id for asset_id, _ in items})
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(
            s.scalars(select(Asset.id).where(Asset.tenant_id == tenant_id, Asset.id.in_(chunk)))
        )
    for index, (asset_id, _) in enumerate(items):
        if asset_id not in found:
            raise Unprocessable(
                f"items[{index}].asset_id", f"no asset {asset_id!r}", "unknown_asset"
            )
    s.execute(delete(PlaylistItem).where(PlaylistItem.playlist_id == playlist_id))
    for position, (asset_id, duration_ms) in enumerate(items):
        s.add(
            PlaylistItem(
                playlist_id=playlist_id,
                position=position,
                asset_id=asset_id,
                duration_ms=duration_ms,
            )
        )


def playlist_scheduled(s: Session, playlist_id: str) -> bool:
    return (
        s.scalars(select(Schedule.id).where(Schedule.playlist_id == playlist_id).limit(1)).first()
        is not None
    )


# ---------------------------------------------------------------- devices


def device_online(d: Device, now: datetime, telemetry_interval_s: int) -> bool:
    return d.last_seen_at is not None and now - d.last_seen_at <= timedelta(
        seconds=3 * telemetry_interval_s
    )


def device_json(d: Device, now: datetime, telemetry_interval_s: int) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "timezone": d.timezone,
        "groups": list(d.groups),
        "enrolled": d.token_hash is not None,
        "last_seen_at": format_instant(d.last_seen_at),
        "online": device_online(d, now, telemetry_interval_s),
        "status": d.status,
        "created_at": format_instant(d.created_at),
        "updated_at": format_instant(d.updated_at),
    }


def get_device(s: Session, tenant_id: str, device_id: str, *, for_update: bool = False) -> Device:
    return get_row(s, Device, tenant_id, device_id, for_update=for_update)


_CODE_ALPHABET = string.ascii_letters + string.digits  # 16 characters: 95 bits


def issue_enrollment_code(d: Device, now: datetime, ttl_s: int) -> str:
    """A new one-time code for a device that has no token (a new one, or after
    :func:`revoke_device_token`)."""
    # Letters and digits only: a code starting with "-" is taken for an option by
    # `lomuz-player enroll --code CODE` (token_urlsafe gave one in 64).
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
    d.code_hash = hash_secret(code)
    d.code_expires_at = now + timedelta(seconds=ttl_s)
    d.token_hash = None
    d.updated_at = now
    return code


def reissue_enrollment_code(s: Session, d: Device, now: datetime, ttl_s: int) -> str:
    """A new one-time code; revokes the device's current token (every process)."""
    revoke_device_token(s, d)
    return issue_enrollment_code(d, now, ttl_s)


def revoke_device_token(s: Session, d: Device) -> None:
    """Forget the device's token and bump the revocation serial in this transaction,
    so that every API process drops its cached copy (control_api/auth.py)."""
    if d.token_hash is None:
        return
    d.token_hash = None
    bumped = s.execute(
        update(RevocationSerial)
        .where(RevocationSerial.id == 1)
        .values(serial=RevocationSerial.serial + 1)
    )
    if getattr(bumped, "rowcount", 1) == 0:  # a database whose row was removed by hand
        s.add(RevocationSerial(id=1, serial=1))


def revocation_serial(s: Session) -> int:
    return int(s.scalar(select(RevocationSerial.serial).where(RevocationSerial.id == 1)) or 0)


def enroll(
    s: Session, code: str, now: datetime, hardware: dict[str, Any] | None
) -> tuple[str, str] | None:
    """(device id, token) for a valid unused code, consumed; None otherwise.

    One conditional UPDATE: of two concurrent requests with the same code the
    second waits for the first's row lock (PostgreSQL), then finds the code
    gone and updates nothing.
    """
    token, token_hash = new_token()
    device_id = s.scalar(
        update(Device)
        .where(Device.code_hash == hash_secret(code), Device.code_expires_at > now)
        .values(
            token_hash=token_hash,
            code_hash=None,
            code_expires_at=None,
            hardware=hardware,
            last_seen_at=now,
            updated_at=now,
        )
        .returning(Device.id)
        .execution_options(synchronize_session=False)
    )
    return None if device_id is None else (device_id, token)


def delete_device(s: Session, tenant_id: str, device_id: str) -> None:
    """Delete the device row and revoke its token; its plays stay (they name the id).

    Refused (409 ``device_scheduled``) while a schedule targets the device by id.
    The row is locked ``FOR UPDATE``, which a schedule insert's ``FOR KEY SHARE``
    read of its target (:func:`lock_device_target`) waits for: a schedule cannot
    slip in between the check and the delete.
    """
    device = s.scalars(
        select(Device)
        .where(Device.id == device_id, Device.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    scheduled = list(
        s.scalars(
            select(Schedule.id)
            .where(
                Schedule.tenant_id == tenant_id,
                Schedule.target_kind == "device",
                Schedule.target_value == device_id,
            )
            .order_by(Schedule.id)
            .limit(6)
        )
    )
    if scheduled:
        named = ", ".join(scheduled[:5]) + (", ..." if len(scheduled) > 5 else "")
        raise Conflict(
            f"schedules target this device ({named}): delete or retarget them first",
            "device_scheduled",
        )
    revoke_device_token(s, device)
    s.delete(device)


def lock_device_target(s: Session, tenant_id: str, device_id: str) -> bool:
    """Whether the tenant has the device, keeping it until commit (``FOR KEY SHARE``)."""
    found = s.scalar(
        select(Device.id)
        .where(Device.id == device_id, Device.tenant_id == tenant_id)
        .with_for_update(read=True, key_share=True)
    )
    return found is not None


# ---------------------------------------------------------------- enrollment failures


def load_enroll_failures(
    s: Session, address: str, now: datetime, *, create: bool
) -> Failures | None:
    """The address's failure record, row-locked until commit (so workers count in
    turn). ``create`` first inserts an empty record, so that two workers' first
    failures for one address do not both insert."""
    if create:
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        s.execute(
            insert(EnrollFailures)
            .values(address=address, failures=0, window_started_at=now, locked_until=None)
            .on_conflict_do_nothing()
        )
    row = s.scalars(
        select(EnrollFailures)
        .where(EnrollFailures.address == address)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None or row.failures == 0:
        return None
    return Failures(row.failures, row.window_started_at, row.locked_until)


def save_enroll_failures(s: Session, address: str, state: Failures | None) -> None:
    if state is None:
        s.execute(delete(EnrollFailures).where(EnrollFailures.address == address))
        return
    s.execute(
        update(EnrollFailures)
        .where(EnrollFailures.address == address)
        .values(
            failures=state.count,
            window_started_at=state.window_started_at,
            locked_until=state.locked_until,
        )
        .execution_options(synchronize_session=False)
    )


def prune_enroll_failures(s: Session, started_before: datetime) -> None:
    s.execute(
        delete(EnrollFailures)
        .where(EnrollFailures.window_started_at < started_before)
        .execution_options(synchronize_session=False)
    )


def count_devices(s: Session, now: datetime, telemetry_interval_s: int) -> tuple[int, int]:
    total = s.scalar(select(func.count()).select_from(Device)) or 0
    online = (
        s.scalar(
            select(func.count())
            .select_from(Device)
            .where(Device.last_seen_at >= now - timedelta(seconds=3 * telemetry_interval_s))
        )
        or 0
    )
    return int(total), int(online)


# ---------------------------------------------------------------- schedules


def target_json(sc: Schedule) -> dict[str, Any]:
    if sc.target_kind == "device":
        return {"device_id": sc.target_value}
    if sc.target_kind == "group":
        return {"group": sc.target_value}
    return {"all": True}


def schedule_json(sc: Schedule, *, reduced_target: bool = False) -> dict[str, Any]:
    return {
        "id": sc.id,
        "playlist_id": sc.playlist_id,
        "target": sc.target_kind if reduced_target else target_json(sc),
        "priority": sc.priority,
        "days": list(sc.days),
        "start_time": sc.start_time,
        "end_time": sc.end_time,
        "valid_from": format_instant(sc.valid_from),
        "valid_until": format_instant(sc.valid_until),
        "version": sc.version,
        "created_at": format_instant(sc.created_at),
        "updated_at": format_instant(sc.updated_at),
    }


def get_schedule(
    s: Session, tenant_id: str, schedule_id: str, *, for_update: bool = False
) -> Schedule:
    return get_row(s, Schedule, tenant_id, schedule_id, for_update=for_update)


# ---------------------------------------------------------------- manifest


def device_view(s: Session, device: Device) -> View:
    groups = list(device.groups)
    target = or_(
        Schedule.target_kind == "all",
        and_(Schedule.target_kind == "device", Schedule.target_value == device.id),
    )
    if groups:
        target = or_(
            target, and_(Schedule.target_kind == "group", Schedule.target_value.in_(groups))
        )
    schedule_playlists = {
        r.id: r.playlist_id
        for r in s.execute(
            select(Schedule.id, Schedule.playlist_id).where(
                Schedule.tenant_id == device.tenant_id, target
            )
        )
    }
    playlist_ids = sorted(set(schedule_playlists.values()))
    playlist_assets: dict[str, list[str]] = {pid: [] for pid in playlist_ids}
    for chunk in _chunks(playlist_ids):
        for r in s.execute(
            select(PlaylistItem.playlist_id, PlaylistItem.asset_id).where(
                PlaylistItem.playlist_id.in_(chunk)
            )
        ):
            playlist_assets[r.playlist_id].append(r.asset_id)
    emergency = frozenset(
        s.scalars(
            select(Asset.id).where(Asset.tenant_id == device.tenant_id, Asset.emergency.is_(True))
        )
    )
    return View(
        schedule_playlists=schedule_playlists,
        playlist_assets={k: tuple(v) for k, v in playlist_assets.items()},
        emergency_assets=emergency,
    )


def load_assets(s: Session, tenant_id: str, ids: Iterable[str]) -> list[Asset]:
    out: list[Asset] = []
    for chunk in _chunks(sorted(ids)):
        out.extend(
            s.scalars(select(Asset).where(Asset.tenant_id == tenant_id, Asset.id.in_(chunk)))
        )
    return sorted(out, key=lambda a: a.id)


def load_playlists(s: Session, tenant_id: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    rows: list[Playlist] = []
    for chunk in _chunks(sorted(ids)):
        rows.extend(
            s.scalars(
                select(Playlist).where(Playlist.tenant_id == tenant_id, Playlist.id.in_(chunk))
            )
        )
    items = playlist_items(s, [p.id for p in rows])
    return [playlist_json(p, items[p.id]) for p in sorted(rows, key=lambda p: p.id)]


def load_schedules(s: Session, tenant_id: str, ids: Iterable[str]) -> list[Schedule]:
    out: list[Schedule] = []
    for chunk in _chunks(sorted(ids)):
        out.extend(
            s.scalars(
                select(Schedule).where(Schedule.tenant_id == tenant_id, Schedule.id.in_(chunk))
            )
        )
    return sorted(out, key=lambda x: x.id)


# ---------------------------------------------------------------- plays

PLAY_FIELDS = (
    "id",
    "device_id",
    "asset_id",
    "sha256",
    "started_at",
    "ended_at",
    "source",
    "outcome",
    "schedule_id",
    "playlist_id",
)


def play_json(p: Play) -> dict[str, Any]:
    return {
        "id": p.id,
        "device_id": p.device_id,
        "asset_id": p.asset_id,
        "sha256": p.sha256,
        "started_at": format_instant(p.started_at),
        "ended_at": format_instant(p.ended_at),
        "source": p.source,
        "outcome": p.outcome,
        "schedule_id": p.schedule_id,
        "playlist_id": p.playlist_id,
    }


def play_assets(s: Session, tenant_id: str, asset_ids: Iterable[str]) -> dict[str, str | None]:
    """Which of ``asset_ids`` are the tenant's: id → sha256 for its assets, id → None
    for assets it deleted that the change log still names (their hash is gone)."""
    wanted = sorted(set(asset_ids))
    known: dict[str, str | None] = {}
    for chunk in _chunks(wanted):
        for row in s.execute(
            select(Asset.id, Asset.sha256).where(Asset.tenant_id == tenant_id, Asset.id.in_(chunk))
        ):
            known[row.id] = row.sha256
    missing = [a for a in wanted if a not in known]
    for chunk in _chunks(missing):
        known.update(
            (asset_id, None)
            for asset_id in s.scalars(
                select(Change.object_id)
                .where(
                    Change.tenant_id == tenant_id,
                    Change.kind == "asset",
                    Change.deleted.is_(True),
                    Change.object_id.in_(chunk),
                )
                .distinct()
            )
        )
    return known


def ingest_plays(
    s: Session, tenant_id: str, device_id: str, plays: Sequence[dict[str, Any]], now: datetime
) -> tuple[int, int]:
    """Insert new plays, ignore known ids. Returns (accepted, duplicates).

    The plays are valid (``core.plays.parse_play``) with canonical ids."""
    unique: dict[str, dict[str, Any]] = {}
    for play in plays:
        unique.setdefault(play["id"], play)
    known: set[str] = set()
    for chunk in _chunks(sorted(unique)):
        known.update(
            s.scalars(select(Play.id).where(Play.tenant_id == tenant_id, Play.id.in_(chunk)))
        )
    rows = [
        {**play, "tenant_id": tenant_id, "device_id": device_id, "received_at": now}
        for play_id, play in unique.items()
        if play_id not in known
    ]
    if rows:
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        # A concurrent upload of the same batch must not fail: first writer wins.
        s.execute(insert(Play).on_conflict_do_nothing(), rows)
    return len(rows), len(plays) - len(rows)


def _chunks(ids: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def check_conflict(in_use: bool, code: str, message: str) -> None:
    if in_use:
        raise Conflict(message, code)
