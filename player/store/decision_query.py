"""What plays at an instant, from the stored catalogue, on any SQLite connection.

The one copy of the store's decision: ``Decisions`` (the daemon, SQLAlchemy's
pooled connections) and ``StoreReader.decide`` (``lomuz-player next``, stdlib
``sqlite3``, no SQLAlchemy to import: issue 11) both call ``decide_in`` with
their connection behind ``Reads``. Plain SQL with named parameters, which
both drivers take as they are; rows come back with instants as stored
(integer microseconds), converted by ``player.store.rows``.

Agrees with ``lomuz_rules.schedule.decide`` on the same catalogue (a property
test checks it): the hot queries walk an index and stop at LIMIT 1.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache, partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from lomuz_rules import schedule as rules
from lomuz_rules.model import Asset, Decision, Override, PlaylistItem, Schedule, Tier
from player.store.read_only import KEY_DEVICE, device_from_json, from_micros, to_micros
from player.store.rows import asset_from_row, file_from_row, override_from_row, schedule_from_row

# The rotation's last-asset state keys (written by ``player.store.rotation``).
KEY_LAST_ASSET_ID = "rotation.last_asset_id"
KEY_LAST_ASSET_AT = "rotation.last_asset_started_at"

# Hot queries, written out so the join order is explicit (SQLite takes CROSS
# JOIN as "in this order") and each one walks an index and stops at LIMIT 1.
_PLAYABLE = """
    f.present = 1
    AND (a.valid_from IS NULL OR a.valid_from <= :at)
    AND (a.valid_until IS NULL OR a.valid_until > :at)
    AND (f.quarantined_until IS NULL OR f.quarantined_until <= :at)
"""
_ITEM_COLUMNS = """
    pi.position AS position, pi.duration_ms AS item_duration_ms,
    a.id AS id, a.sha256 AS sha256, a.size_bytes AS size_bytes,
    a.media_type AS media_type, a.content_type AS content_type, a.title AS title,
    a.duration_ms AS duration_ms, a.valid_from AS valid_from,
    a.valid_until AS valid_until, a.emergency AS emergency, a.url AS url,
    a.loudness_lufs AS loudness_lufs, a.true_peak_dbtp AS true_peak_dbtp,
    a.cue_in_ms AS cue_in_ms, a.cue_out_ms AS cue_out_ms
"""
SQL_NEXT_ITEMS = f"""
SELECT {_ITEM_COLUMNS}, pi.last_played_at AS last_played_at
FROM playlist_items AS pi INDEXED BY ix_playlist_items_rotation
CROSS JOIN assets AS a
CROSS JOIN files AS f
WHERE pi.playlist_id = :playlist_id
  AND a.id = pi.asset_id AND f.sha256 = a.sha256
  AND {_PLAYABLE}
ORDER BY pi.last_played_at, pi.position
LIMIT :limit
"""  # noqa: S608
SQL_EMERGENCY = f"""
SELECT a.id
FROM assets AS a
CROSS JOIN files AS f
WHERE a.emergency = 1 AND f.sha256 = a.sha256
  AND {_PLAYABLE}
ORDER BY a.id
"""  # noqa: S608
SQL_ITEM_DIAGNOSIS = """
SELECT pi.position AS position, pi.asset_id AS item_asset_id, a.id AS asset_id,
       f.sha256 AS file_sha256
FROM playlist_items AS pi
LEFT JOIN assets AS a ON a.id = pi.asset_id
LEFT JOIN files AS f ON f.sha256 = a.sha256
WHERE pi.playlist_id = :playlist_id
ORDER BY pi.position
LIMIT :limit
"""
SQL_NEXT_EDGE = """
SELECT min(edge) FROM (
  SELECT min(valid_from) AS edge FROM assets WHERE valid_from > :at
  UNION ALL SELECT min(valid_until) FROM assets WHERE valid_until > :at
  UNION ALL SELECT min(quarantined_until) FROM files WHERE quarantined_until > :at
)
"""
_SQL_STATE = "SELECT value FROM state WHERE key = :key"
_SQL_SCHEDULES = "SELECT * FROM schedules ORDER BY id"
_SQL_OVERRIDES = "SELECT * FROM overrides ORDER BY id"
_SQL_ASSET = "SELECT * FROM assets WHERE id = :id"
_SQL_FILE = "SELECT * FROM files WHERE sha256 = :sha256"


class Reads(Protocol):
    """A connection inside a read transaction, as ``decide_in`` needs it."""

    def rows(self, sql: str, params: Mapping[str, object]) -> Sequence[Any]:
        """All rows of ``sql``; columns readable as attributes (``row.position``)."""
        ...


class SqliteReads:
    """``Reads`` on a stdlib ``sqlite3`` connection (the read commands')."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def rows(self, sql: str, params: Mapping[str, object]) -> Sequence[Any]:
        cursor = self._connection.execute(sql, params)
        row_type = _row_type(tuple(column[0] for column in cursor.description))
        return [row_type(*row) for row in cursor.fetchall()]


@lru_cache(maxsize=32)
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("Row", columns, rename=True)


@dataclass
class ScheduleView:
    """The parsed schedules and overrides of one catalogue revision (each in precedence
    order too), and the schedules' edges per local day."""

    tz: ZoneInfo
    schedules: list[Schedule]
    ordered: list[Schedule]
    edges_by_day: dict[date, list[datetime]] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)


@dataclass(frozen=True)
class KeptStarts:
    """Starts not written yet (``player.store.deferred``): rotation goes on from them."""

    by_position: Mapping[tuple[str, int], tuple[str, datetime]] = field(default_factory=dict)
    last_asset: tuple[str, datetime] | None = None


def check_decide_args(at: datetime, fallback: Tier) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {at!r}")
    if fallback not in (Tier.JINGLE, Tier.SILENCE):
        raise ValueError(f"fallback must be jingle or silence, got {fallback}")


def decide_once(
    reads: Reads,
    at: datetime,
    fallback: Tier,
    choice: Callable[[Sequence[str]], str] | None = None,
) -> Decision:
    """``decide_in`` with nothing cached and nothing kept (``lomuz-player next``)."""
    check_decide_args(at, fallback)
    view = load_schedule_view(reads)
    edge = next_edge(daily_edges(view, at.astimezone(view.tz).date()), at)
    return decide_in(reads, view, at, fallback, choice or rules.default_choice, schedule_edge=edge)


def stored_state(reads: Reads, key: str) -> str | None:
    rows = reads.rows(_SQL_STATE, {"key": key})
    return None if not rows else str(rows[0][0])


def load_schedule_view(reads: Reads) -> ScheduleView:
    schedules = [schedule_from_row(row) for row in reads.rows(_SQL_SCHEDULES, {})]
    raw_device = stored_state(reads, KEY_DEVICE)
    tz = ZoneInfo(device_from_json(raw_device).timezone if raw_device else "UTC")
    overrides = rules.order_overrides(
        override_from_row(row) for row in reads.rows(_SQL_OVERRIDES, {})
    )
    return ScheduleView(tz, schedules, rules.order_schedules(schedules), overrides=overrides)


def daily_edges(view: ScheduleView, day: date) -> list[datetime]:
    """The schedule edges of one local day (callers may cache them in ``edges_by_day``)."""
    return rules.daily_edges(view.schedules, view.tz, day)


def next_edge(edges: list[datetime], at: datetime) -> datetime | None:
    index = bisect.bisect_right(edges, at)
    return edges[index] if index < len(edges) else None


def decide_in(
    reads: Reads,
    view: ScheduleView,
    at: datetime,
    fallback: Tier,
    choice: Callable[[Sequence[str]], str],
    *,
    schedule_edge: datetime | None,
    kept: KeptStarts | None = None,
) -> Decision:
    """What plays at ``at`` and why; ``schedule_edge`` is the next edge of ``view`` after it."""
    kept = kept or KeptStarts()
    at_us = to_micros(at)
    edge_us = reads.rows(SQL_NEXT_EDGE, {"at": at_us})[0][0]
    boundary = rules.earliest_after(
        at,
        [
            schedule_edge,
            from_micros(edge_us) if edge_us is not None else None,
            *rules.override_edges(view.overrides, at),
        ],
    )
    reasons: list[str] = []
    for rejection, line, playlist_id, decide in _sources(view, at):
        if rejection is not None:
            reasons.append(line(rejection))
            continue
        row, last = _next_item(reads, playlist_id, at_us, kept)
        if row is None:
            reasons.extend(_diagnose_playlist(reads, line(""), playlist_id, at))
            continue
        asset = asset_from_row(row)
        return decide(
            row.position,
            asset,
            item=PlaylistItem(asset.id, row.item_duration_ms),
            last_played_at=last,
            reasons=reasons,
            boundary=boundary,
        )
    if not view.schedules:
        reasons.append("no schedules")
    candidates = [row[0] for row in reads.rows(SQL_EMERGENCY, {"at": at_us})]
    last_asset_id = stored_state(reads, KEY_LAST_ASSET_ID)
    stored_at = stored_state(reads, KEY_LAST_ASSET_AT)
    if kept.last_asset is not None and (
        stored_at is None or int(stored_at) <= to_micros(kept.last_asset[1])
    ):
        last_asset_id = kept.last_asset[0]

    def get_asset(asset_id: str) -> Asset | None:
        found = reads.rows(_SQL_ASSET, {"id": asset_id})
        return asset_from_row(found[0]) if found else None

    return rules.fallback_decision(
        at,
        emergency_candidates=candidates,
        get_asset=get_asset,
        last_asset_id=last_asset_id,
        fallback=fallback,
        choice=choice,
        reasons=reasons,
        boundary=boundary,
    )


def _sources(
    view: ScheduleView, at: datetime
) -> Iterator[tuple[str | None, Callable[[str], str], str, Callable[..., Decision]]]:
    """The overrides, then the schedules, in the order they win: each with why it does
    not play at ``at`` (None: it does), its reason line, its playlist and its decision."""
    for override in view.overrides:
        yield (
            rules.override_rejection(override, at),
            partial(rules.override_line, override),
            override.playlist_id,
            partial(rules.override_decision, at, override),
        )
    for schedule in view.ordered:
        yield (
            rules.schedule_rejection(schedule, at, view.tz),
            partial(rules.schedule_line, schedule),
            schedule.playlist_id,
            partial(rules.playlist_decision, at, schedule),
        )


def _next_item(
    reads: Reads, playlist_id: str, at_us: int, kept: KeptStarts
) -> tuple[Any | None, datetime | None]:
    """The playlist's playable item to play next (a row of ``SQL_NEXT_ITEMS``) and its last play."""
    kept_here = {
        position: start
        for (kept_playlist_id, position), start in kept.by_position.items()
        if kept_playlist_id == playlist_id
    }
    params = {"playlist_id": playlist_id, "at": at_us, "limit": len(kept_here) + 1}
    return _least_recent(reads.rows(SQL_NEXT_ITEMS, params), kept_here)


def _diagnose_playlist(reads: Reads, prefix: str, playlist_id: str, at: datetime) -> list[str]:
    """Why the playlist of a schedule or override (its reason line's ``prefix``) cannot play."""
    rows = reads.rows(
        SQL_ITEM_DIAGNOSIS, {"playlist_id": playlist_id, "limit": rules.MAX_ITEM_REASONS}
    )
    if not rows:
        return [f"{prefix}playlist {playlist_id} is empty"]
    lines = [f"{prefix}no playable item in playlist {playlist_id}"]
    for row in rows:
        asset = None
        file = None
        if row.asset_id is not None:
            asset = asset_from_row(reads.rows(_SQL_ASSET, {"id": row.asset_id})[0])
        if row.file_sha256 is not None:
            file = file_from_row(reads.rows(_SQL_FILE, {"sha256": row.file_sha256})[0])
        problem = rules.item_problem(asset, file, at) or "playable"
        lines.append(rules.item_line(row.position, row.item_asset_id, problem))
    return lines


def _least_recent(
    rows: Sequence[Any], kept: dict[int, tuple[str, datetime]]
) -> tuple[Any | None, datetime | None]:
    """The row ``SQL_NEXT_ITEMS`` picks had the kept starts been written, and its last play.

    Same order as the SQL: never played first, then least recently, then position.
    """
    best: tuple[tuple[bool, datetime | None, int], Any, datetime | None] | None = None
    for row in rows:
        last = from_micros(row.last_played_at) if row.last_played_at is not None else None
        start = kept.get(row.position)
        if start is not None and start[0] == row.id and (last is None or last < start[1]):
            last = start[1]
        key = (last is not None, last, row.position)
        if best is None or _order_key(key) < _order_key(best[0]):
            best = (key, row, last)
    return (None, None) if best is None else (best[1], best[2])


def _order_key(key: tuple[bool, datetime | None, int]) -> tuple[bool, int, int]:
    played, last, position = key
    return played, to_micros(last) if last is not None else 0, position
