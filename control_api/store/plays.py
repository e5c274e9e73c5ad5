"""Proof of play: which assets a play may name, the idempotent insert of a batch,
and the per-day rollups (``PlayDay``, ``PlayDayAsset``, ``PlayDayDevice``) the
counts read.

Invariant: the rollups hold, per (tenant, UTC day of ``started_at``), per
(tenant, day, asset) and per (tenant, day, device), the number of stored plays
and the sum of their lengths in ms, floored per play. They change only in
:func:`ingest_plays`, in the transaction that inserts the plays, by the plays
that insert really stored; nothing deletes plays (a deleted device's or asset's
plays stay, and so do their counts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_api.store.models import (
    Asset,
    Change,
    Device,
    Play,
    PlayDay,
    PlayDayAsset,
    PlayDayDevice,
)
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
        for play_id, play in sorted(unique.items())
        if play_id not in known
    ]
    if not rows:
        return 0, len(plays)
    insert = _insert(s)
    # A concurrent upload of the same batch must not fail: first writer wins, and
    # RETURNING names the plays this one stored, the only ones it may count. Core
    # tables, not the ORM's bulk path: on PostgreSQL that doubles the insert's time.
    plays_table = Play.__table__
    stored = set(
        s.scalars(insert(plays_table).on_conflict_do_nothing().returning(plays_table.c.id), rows)
    )
    for rollup, tallies in day_tallies(row for row in rows if row["id"] in stored).items():
        if not tallies:  # another upload stored them all first
            continue
        table = rollup.__table__
        stmt = insert(table)
        added = stmt.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key],
            set_={
                "plays": table.c.plays + stmt.excluded.plays,
                "played_ms": table.c.played_ms + stmt.excluded.played_ms,
            },
        )
        s.execute(added, tallies)  # one compiled statement, its rows pipelined
    return len(stored), len(plays) - len(stored)


def _insert(s: Session) -> Callable[..., Any]:
    """The dialect's INSERT, the one with ON CONFLICT."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def played_ms(play: Mapping[str, Any]) -> int:
    """A play's length in whole milliseconds (floored)."""
    return int((play["ended_at"] - play["started_at"]) // timedelta(milliseconds=1))


Rollup = type[PlayDay] | type[PlayDayAsset] | type[PlayDayDevice]
# Each rollup and the play's column that, after (tenant_id, day), keys its rows.
ROLLUPS: tuple[tuple[Rollup, str | None], ...] = (
    (PlayDay, None),
    (PlayDayAsset, "asset_id"),
    (PlayDayDevice, "device_id"),
)


def day_tallies(rows: Iterable[Mapping[str, Any]]) -> dict[Rollup, list[dict[str, Any]]]:
    """What ``rows`` (stored plays) add to each rollup: its rows, in key order (so
    that concurrent writers lock alike)."""
    tallies: dict[Rollup, dict[tuple[Any, ...], list[int]]] = {t: {} for t, _ in ROLLUPS}
    for row in rows:
        day = row["started_at"].astimezone(UTC).date()
        length_ms = played_ms(row)
        for table, column in ROLLUPS:
            key = (
                (row["tenant_id"], day) if column is None else (row["tenant_id"], day, row[column])
            )
            tally = tallies[table].setdefault(key, [0, 0])
            tally[0] += 1
            tally[1] += length_ms
    added: dict[Rollup, list[dict[str, Any]]] = {}
    for table, column in ROLLUPS:
        names = ("tenant_id", "day") if column is None else ("tenant_id", "day", column)
        added[table] = [
            {**dict(zip(names, key, strict=True)), "plays": n, "played_ms": ms}
            for key, (n, ms) in sorted(tallies[table].items())
        ]
    return added


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


def plays_per_day(s: Session, tenant_id: str, first_day: date, last_day: date) -> list[Count]:
    """Plays started from ``first_day`` to ``last_day`` (UTC days, both included) per
    day, days without plays left out, oldest first."""
    r = PlayDay
    stmt = (
        select(r.day, r.plays)
        .where(r.tenant_id == tenant_id, r.day >= first_day, r.day <= last_day)
        .order_by(r.day)
    )
    return [Count(row.day.isoformat(), int(row.plays)) for row in s.execute(stmt)]


def top_assets(
    s: Session, tenant_id: str, first_day: date, last_day: date, limit: int
) -> list[Count]:
    """The ``limit`` assets played most from ``first_day`` to ``last_day`` (UTC days,
    both included), most first (ties by id), titled."""
    r = PlayDayAsset
    total = func.sum(r.plays)
    counted = (
        select(r.asset_id.label("key"), total.label("plays"))
        .where(r.tenant_id == tenant_id, r.day >= first_day, r.day <= last_day)
        .group_by(r.asset_id)
        .order_by(total.desc(), r.asset_id)
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
    s: Session, tenant_id: str, first_day: date, last_day: date, limit: int
) -> list[Count]:
    """The ``limit`` devices that played most from ``first_day`` to ``last_day`` (UTC
    days, both included), most first (ties by id), named."""
    r = PlayDayDevice
    total = func.sum(r.plays)
    counted = (
        select(r.device_id.label("key"), total.label("plays"))
        .where(r.tenant_id == tenant_id, r.day >= first_day, r.day <= last_day)
        .group_by(r.device_id)
        .order_by(total.desc(), r.device_id)
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
