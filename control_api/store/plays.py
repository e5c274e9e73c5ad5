"""Proof of play: which assets a play may name, and the idempotent insert of a batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_api.store.models import Asset, Change, Device, Play
from control_api.store.repository import chunks

# ---------------------------------------------------------------- plays


def play_assets(s: Session, tenant_id: str, asset_ids: Iterable[str]) -> dict[str, str | None]:
    """Which of ``asset_ids`` are the tenant's: id → sha256 for its assets, id → None
    for assets it deleted that the change log still names (their hash is gone)."""
    wanted = sorted(set(asset_ids))
    known: dict[str, str | None] = {}
    for chunk in chunks(wanted):
        for row in s.execute(
            select(Asset.id, Asset.sha256).where(Asset.tenant_id == tenant_id, Asset.id.in_(chunk))
        ):
            known[row.id] = row.sha256
    missing = [a for a in wanted if a not in known]
    for chunk in chunks(missing):
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
    for chunk in chunks(sorted(unique)):
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


# ---------------------------------------------------------------- counts and export


@dataclass(frozen=True)
class Count:
    """Plays of one key (a day ``YYYY-MM-DD``, an asset id or a device id) and the
    key's name (the asset's title, the device's name; None when it is gone)."""

    key: str
    plays: int
    name: str | None = None


def _in_range(tenant_id: str, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(Play.tenant_id == tenant_id, Play.started_at >= start, Play.started_at < end)


def _utc_day(s: Session) -> ColumnElement[Any]:
    """The play's UTC day as SQL: SQLite stores naive UTC text ``YYYY-MM-DD HH:MM:SS…``
    (its first 10 characters are the day: twice as fast as date() on 1M rows),
    PostgreSQL timestamptz."""
    if s.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Play.started_at), "YYYY-MM-DD")
    return func.substr(Play.started_at, 1, 10)


def plays_per_day(s: Session, tenant_id: str, start: datetime, end: datetime) -> list[Count]:
    """Plays started in [start, end) per UTC day, days without plays left out, oldest first."""
    day = _utc_day(s).label("day")
    stmt = (
        select(day, func.count().label("plays"))
        .where(_in_range(tenant_id, start, end))
        .group_by(day)
        .order_by(day)
    )
    return [Count(str(row.day), int(row.plays)) for row in s.execute(stmt)]


def top_assets(
    s: Session, tenant_id: str, start: datetime, end: datetime, limit: int
) -> list[Count]:
    """The ``limit`` assets played most in [start, end), most first (ties by id), titled."""
    counted = (
        select(Play.asset_id.label("key"), func.count().label("plays"))
        .where(_in_range(tenant_id, start, end))
        .group_by(Play.asset_id)
        .order_by(func.count().desc(), Play.asset_id)
        .limit(limit)
        .subquery()
    )
    stmt = (
        select(counted.c.key, counted.c.plays, Asset.title, Asset.filename)
        .outerjoin(Asset, and_(Asset.tenant_id == tenant_id, Asset.id == counted.c.key))
        .order_by(counted.c.plays.desc(), counted.c.key)
    )
    return [Count(r.key, int(r.plays), r.title or r.filename) for r in s.execute(stmt)]


def top_devices(
    s: Session, tenant_id: str, start: datetime, end: datetime, limit: int
) -> list[Count]:
    """The ``limit`` devices that played most in [start, end), most first (ties by id), named."""
    counted = (
        select(Play.device_id.label("key"), func.count().label("plays"))
        .where(_in_range(tenant_id, start, end))
        .group_by(Play.device_id)
        .order_by(func.count().desc(), Play.device_id)
        .limit(limit)
        .subquery()
    )
    stmt = (
        select(counted.c.key, counted.c.plays, Device.name)
        .outerjoin(Device, and_(Device.tenant_id == tenant_id, Device.id == counted.c.key))
        .order_by(counted.c.plays.desc(), counted.c.key)
    )
    return [Count(r.key, int(r.plays), r.name) for r in s.execute(stmt)]


@dataclass(frozen=True)
class NamedPlay:
    """A play with its asset's title and its device's name (None when gone)."""

    play: Play
    asset_title: str | None
    device_name: str | None


def named_plays(
    s: Session,
    tenant_id: str,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[NamedPlay]:
    """Plays started in [start, end), oldest first (by ``started_at``, then id), after
    the keyset ``after``, each with the names beside its ids (one query)."""
    stmt = (
        select(Play, Asset.title, Asset.filename, Device.name)
        .outerjoin(Asset, and_(Asset.tenant_id == Play.tenant_id, Asset.id == Play.asset_id))
        .outerjoin(Device, and_(Device.tenant_id == Play.tenant_id, Device.id == Play.device_id))
        .where(_in_range(tenant_id, start, end))
    )
    if after is not None:
        started, play_id = after
        stmt = stmt.where(
            or_(Play.started_at > started, and_(Play.started_at == started, Play.id > play_id))
        )
    rows = s.execute(stmt.order_by(Play.started_at, Play.id).limit(limit))
    return [NamedPlay(r.Play, r.title or r.filename, r.name) for r in rows]
