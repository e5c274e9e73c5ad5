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

This module holds tenants, tokens, the change log, paging and the enrollment
failure counts; the areas' queries are in ``content`` (assets, playlists,
schedules, device views), ``devices``, ``plays`` and ``media_refs``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from control_api.core.lockout import Failures
from control_api.core.manifest import NOT_A_ROOT, asset_root, schedule_root
from control_api.errors import InvalidField, NotFound
from control_api.store.db import note_revision
from control_api.store.models import (
    AdminToken,
    Asset,
    Change,
    Device,
    EnrollFailures,
    Override,
    Playlist,
    RevocationSerial,
    Schedule,
    Tenant,
)

Row = TypeVar("Row", Asset, Playlist, Device, Schedule)  # a tenant-owned row with an id


def new_id(prefix: str) -> str:
    """Time-ordered opaque id, so keyset pages come out in creation order."""
    return f"{prefix}_{time.time_ns() // 1000:014x}{secrets.token_hex(6)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A 256-bit token and its stored hash."""
    token = secrets.token_urlsafe(32)
    return token, hash_secret(token)


# ---------------------------------------------------------------- tenants, tokens, changes


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
    whole = (
        s.execute(
            select(AdminToken).where(
                AdminToken.tenant_id == tenant_id, AdminToken.token_hash == hash_secret(text)
            )
        )
        .scalars()
        .all()
    )
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


@dataclass(frozen=True)
class DeviceToken:
    """A device token's principal, what its scope is made of and the revocation
    serial, read by one statement (so from one snapshot)."""

    principal: Principal
    timezone: str
    groups: list[str]
    revocation_serial: int


def lookup_device_token(s: Session, token_hash: str) -> DeviceToken | None:
    """The device holding ``token_hash``; None for any other token (an admin one too).

    One statement: a push nudge's burst looks up thousands of tokens in seconds."""
    serial = select(RevocationSerial.serial).where(RevocationSerial.id == 1).scalar_subquery()
    row = s.execute(
        select(
            Device.id, Device.tenant_id, Device.token_hash, Device.timezone, Device.groups, serial
        ).where(Device.token_hash == token_hash)
    ).first()
    if row is None or row.token_hash is None:
        return None
    return DeviceToken(
        Principal("device", row.tenant_id, row.id, row.token_hash),
        row.timezone,
        list(row.groups),
        int(row[5] or 0),
    )


def tenant_state(s: Session, tenant_id: str) -> tuple[int, int]:
    """(revision, horizon) of the tenant."""
    row = s.execute(select(Tenant.revision, Tenant.horizon).where(Tenant.id == tenant_id)).one()
    return int(row.revision), int(row.horizon)


def tenant_state_and_device(
    s: Session, tenant_id: str, device_id: str
) -> tuple[int, int, Device | None]:
    """(revision, horizon) of the tenant and its device ``device_id`` (None when gone),
    in one statement: a manifest request's first read."""
    row = s.execute(
        select(Tenant.revision, Tenant.horizon, Device)
        .outerjoin(Device, (Device.id == device_id) & (Device.tenant_id == Tenant.id))
        .where(Tenant.id == tenant_id)
        # The telemetry blobs are a manifest's largest columns and it needs neither.
        .options(defer(Device.status), defer(Device.hardware))
    ).one()
    return int(row[0]), int(row[1]), row[2]


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
    note_revision(s, tenant_id, rev)
    prune_to = rev - keep_revisions
    if prune_to - horizon >= max(1, keep_revisions // 10):
        s.execute(delete(Change).where(Change.tenant_id == tenant_id, Change.revision <= prune_to))
        s.execute(update(Tenant).where(Tenant.id == tenant_id).values(horizon=prune_to))
    return rev


def view_root(obj: Asset | Schedule | Override) -> str:
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


# ---------------------------------------------------------------- paging, rows


def encode_after(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_after(value: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = "\x00"
    if "\x00" in decoded:  # never in a cursor of ours; PostgreSQL refuses it in text
        raise InvalidField("after", "not a cursor returned by this API")
    return decoded


def page_by_id(
    s: Session,
    model: type[Row],
    tenant_id: str,
    limit: int,
    after: str | None,
    *,
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Row], str | None]:
    """One page of the tenant's rows in id order; ``where`` narrows it (filters)."""
    stmt: Select[Row] = select(model).where(model.tenant_id == tenant_id, *where)
    if after:
        stmt = stmt.where(model.id > decode_after(after))
    rows = list(s.scalars(stmt.order_by(model.id).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_after(rows[limit - 1].id)
    return rows, None


def check_editable(changes: Mapping[str, object], editable: Iterable[str]) -> None:
    """A programming error, not a user's: bodies are checked against the same names."""
    unknown = set(changes) - set(editable)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")


def apply_changes(row: Row, changes: Mapping[str, object], now: datetime) -> None:
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = now


def get_row(
    s: Session, model: type[Row], tenant_id: str, object_id: str, *, for_update: bool = False
) -> Row:
    """The tenant's row or NotFound; ``for_update`` row-locks it until commit.

    The lock is ``FOR NO KEY UPDATE``: writers of the row queue behind each other,
    while inserts that merely reference it (a playlist item's foreign key) do not.
    """
    stmt: Select[Row] = select(model).where(model.id == object_id, model.tenant_id == tenant_id)
    if for_update:
        # populate_existing: a row already in the session is re-read under the lock.
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    row = s.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no {model.__tablename__.removesuffix('s')} {object_id!r}")
    return row


def chunks(ids: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# ---------------------------------------------------------------- device tokens


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
