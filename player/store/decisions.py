"""``Decisions``: what plays at an instant and why, from the stored catalogue.

Agrees with ``lomuz_rules.schedule.decide`` on the same catalogue (a property
test checks it): the hot queries below walk an index and stop at LIMIT 1, and
the schedules are parsed once per catalogue revision. While the filesystem is
full, starts kept in memory (``player.store.deferred``) are taken into account
so rotation goes on.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, text

from lomuz_rules import schedule as rules
from lomuz_rules.model import Asset, Decision, PlaylistItem, Schedule, Tier
from player.store import tables as t
from player.store.catalogue import stored_revision
from player.store.database import Database
from player.store.device_state import stored_timezone
from player.store.read_only import from_micros, to_micros
from player.store.rotation import stored_last_asset
from player.store.rows import asset_from_row, file_from_row, load_schedules

_EDGE_CACHE_DAYS = 16


@dataclass
class _ScheduleCache:
    """Parsed schedules for one catalogue revision, and their edges per local day."""

    revision: tuple[int, str | None]  # the database generation, the catalogue revision
    tz: ZoneInfo
    schedules: list[Schedule]
    ordered: list[Schedule]
    edges_by_day: dict[date, list[datetime]]


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
    a.valid_until AS valid_until, a.emergency AS emergency, a.url AS url
"""
SQL_NEXT_ITEMS = text(f"""
SELECT {_ITEM_COLUMNS}, pi.last_played_at AS last_played_at
FROM playlist_items AS pi INDEXED BY ix_playlist_items_rotation
CROSS JOIN assets AS a
CROSS JOIN files AS f
WHERE pi.playlist_id = :playlist_id
  AND a.id = pi.asset_id AND f.sha256 = a.sha256
  AND {_PLAYABLE}
ORDER BY pi.last_played_at, pi.position
LIMIT :limit
""")  # noqa: S608
SQL_EMERGENCY = text(f"""
SELECT a.id
FROM assets AS a
CROSS JOIN files AS f
WHERE a.emergency = 1 AND f.sha256 = a.sha256
  AND {_PLAYABLE}
ORDER BY a.id
""")  # noqa: S608
SQL_ITEM_DIAGNOSIS = text("""
SELECT pi.position AS position, pi.asset_id AS item_asset_id, a.id AS asset_id,
       f.sha256 AS file_sha256
FROM playlist_items AS pi
LEFT JOIN assets AS a ON a.id = pi.asset_id
LEFT JOIN files AS f ON f.sha256 = a.sha256
WHERE pi.playlist_id = :playlist_id
ORDER BY pi.position
LIMIT :limit
""")
SQL_NEXT_EDGE = text("""
SELECT min(edge) FROM (
  SELECT min(valid_from) AS edge FROM assets WHERE valid_from > :at
  UNION ALL SELECT min(valid_until) FROM assets WHERE valid_until > :at
  UNION ALL SELECT min(quarantined_until) FROM files WHERE quarantined_until > :at
)
""")


class Decisions:
    """``decide`` over the stored catalogue, with a per-revision schedule cache."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache_lock = threading.Lock()
        self._cache: _ScheduleCache | None = None

    def decide(
        self,
        at: datetime,
        fallback: Tier = Tier.JINGLE,
        choice: Callable[[Sequence[str]], str] | None = None,
    ) -> Decision:
        """What plays at ``at`` and why; agrees with ``lomuz_rules.schedule.decide``."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"instant must be timezone-aware, got {at!r}")
        if fallback not in (Tier.JINGLE, Tier.SILENCE):
            raise ValueError(f"fallback must be jingle or silence, got {fallback}")
        at_us = to_micros(at)
        overlay = {} if self._db.deferred.idle() else self._db.deferred.rotation_overlay()
        with self._db.read() as conn:
            cache = self._schedules(conn)
            tz, schedules = cache.tz, cache.schedules
            edge_us = conn.execute(SQL_NEXT_EDGE, {"at": at_us}).scalar()
            boundary = rules.earliest_after(
                at,
                [
                    self._next_schedule_edge(cache, at),
                    from_micros(edge_us) if edge_us is not None else None,
                ],
            )
            reasons: list[str] = []
            for schedule in cache.ordered:
                rejection = rules.schedule_rejection(schedule, at, tz)
                if rejection is not None:
                    reasons.append(rules.schedule_line(schedule, rejection))
                    continue
                params = {"playlist_id": schedule.playlist_id, "at": at_us}
                kept = {
                    position: start
                    for (playlist_id, position), start in overlay.items()
                    if playlist_id == schedule.playlist_id
                }
                rows = conn.execute(SQL_NEXT_ITEMS, {**params, "limit": len(kept) + 1})
                row, last = _least_recent(rows.all(), kept)
                if row is None:
                    reasons.extend(_diagnose_playlist(conn, schedule, at))
                    continue
                asset = asset_from_row(row)
                return rules.playlist_decision(
                    at,
                    schedule,
                    row.position,
                    asset,
                    item=PlaylistItem(asset.id, row.item_duration_ms),
                    last_played_at=last,
                    reasons=reasons,
                    boundary=boundary,
                )
            if not schedules:
                reasons.append("no schedules")
            candidates = list(conn.execute(SQL_EMERGENCY, {"at": at_us}).scalars())
            last_asset_id, stored_at = stored_last_asset(conn)
            kept_last = None if self._db.deferred.idle() else self._db.deferred.last_asset()
            if kept_last is not None and (
                stored_at is None or stored_at <= to_micros(kept_last[1])
            ):
                last_asset_id = kept_last[0]

            def get_asset(asset_id: str) -> Asset | None:
                found = conn.execute(select(t.assets).where(t.assets.c.id == asset_id)).first()
                return None if found is None else asset_from_row(found)

            return rules.fallback_decision(
                at,
                emergency_candidates=candidates,
                get_asset=get_asset,
                last_asset_id=last_asset_id,
                fallback=fallback,
                choice=choice or rules.default_choice,
                reasons=reasons,
                boundary=boundary,
            )

    def _schedules(self, conn: Connection) -> _ScheduleCache:
        # Schedules are few and change only with a manifest: parse them once
        # per catalogue revision (stored in the database, so a manifest applied
        # by another process is seen too).
        revision = (self._db.generation, stored_revision(conn))
        with self._cache_lock:
            cache = self._cache
        if cache is not None and cache.revision == revision:
            return cache
        schedules = load_schedules(conn)
        cache = _ScheduleCache(
            revision=revision,
            tz=ZoneInfo(stored_timezone(conn)),
            schedules=schedules,
            ordered=rules.order_schedules(schedules),
            edges_by_day={},
        )
        with self._cache_lock:
            self._cache = cache
        return cache

    def _next_schedule_edge(self, cache: _ScheduleCache, at: datetime) -> datetime | None:
        today = at.astimezone(cache.tz).date()
        with self._cache_lock:
            edges = cache.edges_by_day.get(today)
        if edges is None:
            edges = rules.daily_edges(cache.schedules, cache.tz, today)
            with self._cache_lock:
                if len(cache.edges_by_day) >= _EDGE_CACHE_DAYS:
                    cache.edges_by_day.clear()
                cache.edges_by_day[today] = edges
        index = bisect.bisect_right(edges, at)
        return edges[index] if index < len(edges) else None


def _diagnose_playlist(conn: Connection, schedule: Schedule, at: datetime) -> list[str]:
    rows = conn.execute(
        SQL_ITEM_DIAGNOSIS,
        {"playlist_id": schedule.playlist_id, "limit": rules.MAX_ITEM_REASONS},
    ).all()
    if not rows:
        return [rules.schedule_line(schedule, f"playlist {schedule.playlist_id} is empty")]
    lines = [rules.schedule_line(schedule, f"no playable item in playlist {schedule.playlist_id}")]
    for row in rows:
        asset = None
        file = None
        if row.asset_id is not None:
            asset = asset_from_row(
                conn.execute(select(t.assets).where(t.assets.c.id == row.asset_id)).one()
            )
        if row.file_sha256 is not None:
            file = file_from_row(
                conn.execute(select(t.files).where(t.files.c.sha256 == row.file_sha256)).one()
            )
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
