"""Proof of play: ingest a device's batch, list with filters, export every match."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from control_api.core import plays as pp
from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.services.pages import Page
from control_api.store import plays as play_rows
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Play
from control_api.store.plays import Count, NamedPlay

__all__ = ["Count", "NamedPlay"]  # the counts' and the named export's rows, re-exported
log = logging.getLogger(__name__)
MAX_PLAYS = 1000  # per upload
EXPORT_PAGE = 1000


@dataclass(frozen=True)
class PlayFilters:
    device_id: str | None = None
    asset_id: str | None = None
    started_from: datetime | None = None  # inclusive
    started_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Ingested:
    accepted: int
    duplicates: int
    rejected: list[pp.Rejection] = field(default_factory=list)  # in the batch's order


def ingest(db: Database, tenant_id: str, device_id: str, raw: object, now: datetime) -> Ingested:
    """Store the valid plays of ``raw`` (the batch as sent), ignore known ids, and
    reject each invalid play on its own: one bad play must not block the rest."""
    if not isinstance(raw, list):
        raise InvalidField("plays", "must be a list of plays")
    if len(raw) > MAX_PLAYS:
        raise InvalidField("plays", f"at most {MAX_PLAYS} plays per request")
    parsed: list[tuple[int, dict[str, Any]]] = []
    rejected: list[tuple[int, pp.Rejection]] = []
    for index, item in enumerate(raw):
        try:
            parsed.append((index, pp.parse_play(item, f"plays[{index}]")))
        except InvalidField as exc:
            rejected.append((index, pp.reject(item, exc)))
    with db.write() as s:
        known = play_rows.play_assets(s, tenant_id, (p["asset_id"] for _, p in parsed))
        plays = []
        for index, play in parsed:
            try:
                pp.check_asset(play, known, f"plays[{index}]")
            except InvalidField as exc:
                rejected.append((index, pp.reject(raw[index], exc)))
            else:
                plays.append(play)
        accepted, duplicates = play_rows.ingest_plays(s, tenant_id, device_id, plays, now)
    if rejected:
        log.info(
            "plays: device %s sent %d plays the API refuses (first: %s)",
            device_id,
            len(rejected),
            rejected[0][1].message,
        )
    return Ingested(accepted, duplicates, [r for _, r in sorted(rejected, key=lambda r: r[0])])


def list_plays(
    db: Database, tenant_id: str, filters: PlayFilters, limit: int, after: str | None
) -> Page[Play]:
    """Oldest first (by ``started_at``, then id)."""
    stmt = select(Play).where(Play.tenant_id == tenant_id)
    if filters.device_id:
        stmt = stmt.where(Play.device_id == filters.device_id)
    if filters.asset_id:
        stmt = stmt.where(Play.asset_id == filters.asset_id)
    if filters.started_from:
        stmt = stmt.where(Play.started_at >= filters.started_from)
    if filters.started_to:
        stmt = stmt.where(Play.started_at < filters.started_to)
    if after:
        started_text, _, play_id = repo.decode_after(after).partition("|")
        started = v.parse_instant(started_text, "after")
        stmt = stmt.where(
            (Play.started_at > started) | ((Play.started_at == started) & (Play.id > play_id))
        )
    with db.read() as s:
        rows = list(s.scalars(stmt.order_by(Play.started_at, Play.id).limit(limit + 1)))
    if len(rows) > limit:
        last = rows[limit - 1]
        cursor = f"{v.format_instant(last.started_at)}|{last.id}"
        return Page(rows[:limit], repo.encode_after(cursor))
    return Page(rows, None)


def recent_plays(db: Database, tenant_id: str, device_id: str, limit: int) -> list[Play]:
    """The device's last ``limit`` plays, newest first (by ``started_at``, then id)."""
    stmt = (
        select(Play)
        .where(Play.tenant_id == tenant_id, Play.device_id == device_id)
        .order_by(Play.started_at.desc(), Play.id.desc())
        .limit(limit)
    )
    with db.read() as s:
        return list(s.scalars(stmt))


def export_plays(db: Database, tenant_id: str, filters: PlayFilters) -> Iterator[Sequence[Play]]:
    """Every matching play, page after page (each page its own read): the first page
    always, even empty."""
    after: str | None = None
    while True:
        page = list_plays(db, tenant_id, filters, EXPORT_PAGE, after)
        yield page.items
        if page.next is None:
            return
        after = page.next


@dataclass(frozen=True)
class PlayCounts:
    """A range of UTC days counted three ways."""

    per_day: list[Count]  # every day of the range, oldest first, days without plays at 0
    top_assets: list[Count]  # most played first, ``name`` the title
    top_devices: list[Count]  # most playing first, ``name`` the device's name
    total: int


def day_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[00:00 UTC of ``first_day``, 00:00 UTC of the day after ``last_day``)."""
    start = datetime.combine(first_day, time(0), tzinfo=UTC)
    return start, datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)


def count_plays(
    db: Database, tenant_id: str, first_day: date, last_day: date, top: int
) -> PlayCounts:
    """Plays started from ``first_day`` to ``last_day`` (UTC days, both included), per
    day and for the ``top`` assets and devices: summed from the per-day rollups, so
    the cost follows the days x assets (devices) that played, not the plays."""
    with db.read(snapshot=True) as s:
        counted = {
            c.key: c.plays for c in play_rows.plays_per_day(s, tenant_id, first_day, last_day)
        }
        assets = play_rows.top_assets(s, tenant_id, first_day, last_day, top)
        devices = play_rows.top_devices(s, tenant_id, first_day, last_day, top)
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    per_day = [Count(d.isoformat(), counted.get(d.isoformat(), 0)) for d in days]
    return PlayCounts(per_day, assets, devices, sum(counted.values()))


def export_named_plays(
    db: Database, tenant_id: str, first_day: date, last_day: date
) -> Iterator[Sequence[NamedPlay]]:
    """Every play of the UTC days, oldest first, with asset titles and device names,
    page after page (each page its own read): the first page always, even empty."""
    start, end = day_bounds(first_day, last_day)
    after: tuple[datetime, str] | None = None
    while True:
        with db.read() as s:
            page = play_rows.named_plays(s, tenant_id, start, end, limit=EXPORT_PAGE, after=after)
        yield page
        if len(page) < EXPORT_PAGE:
            return
        last = page[-1].play
        after = (last.started_at, last.id)
