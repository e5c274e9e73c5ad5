"""When time alone may change a decision: schedule, DST and other edges.

Part of :mod:`lomuz_rules.schedule` (its invariants, ``next_boundary_at``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lomuz_rules.model import MINUTES_PER_DAY, Schedule

# How far ahead daypart edges are enumerated: a week plus the day a window
# crossing midnight started on, plus slack.
_BOUNDARY_HORIZON_DAYS = 9


def _local_instants(day: date, minute: int, tz: ZoneInfo) -> list[datetime]:
    if minute >= MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    # Both folds: a repeated time happens twice, a skipped one maps to both
    # sides of the gap; an early candidate is harmless.
    return [wall.replace(fold=0).astimezone(UTC), wall.replace(fold=1).astimezone(UTC)]


def _dst_transitions(tz: ZoneInfo, start: datetime, days: int) -> list[datetime]:
    """UTC instants in ``(start, start + days]`` where the zone's offset changes (to 1 s)."""
    found: list[datetime] = []
    step = timedelta(hours=12)
    lo = start
    lo_offset = lo.astimezone(tz).utcoffset()
    for _ in range(days * 2):
        hi = lo + step
        hi_offset = hi.astimezone(tz).utcoffset()
        if hi_offset != lo_offset:
            # Zone transitions fall on whole seconds: bisect on integers.
            a, b = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
            while b - a > 1:
                mid = (a + b) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == lo_offset:
                    a = mid
                else:
                    b = mid
            found.append(datetime.fromtimestamp(b, UTC))
        lo, lo_offset = hi, hi_offset
    return found


def daily_edges(schedules: Iterable[Schedule], tz: ZoneInfo, today: date) -> list[datetime]:
    """All daypart, validity and DST edges around local day ``today``, sorted.

    Covers local days ``today - 1`` to ``today + 8`` (a window crossing
    midnight belongs to its start day), so the result only depends on the
    day: callers may cache it per day and pick the first edge after ``at``.
    """
    edges: list[datetime] = []
    any_schedule = False
    for schedule in schedules:
        any_schedule = True
        for edge in (schedule.valid_from, schedule.valid_until):
            if edge is not None:
                edges.append(edge.astimezone(UTC))
        if schedule.start_minute == schedule.end_minute:
            continue
        crosses = schedule.end_minute < schedule.start_minute
        for offset in range(-1, _BOUNDARY_HORIZON_DAYS):
            day = today + timedelta(days=offset)
            if day.isoweekday() not in schedule.days:
                continue
            end_day = day + timedelta(days=1) if crosses else day
            edges.extend(_local_instants(day, schedule.start_minute, tz))
            edges.extend(_local_instants(end_day, schedule.end_minute, tz))
    if any_schedule:
        window_start = datetime.combine(today - timedelta(days=1), time(0), tzinfo=tz)
        edges.extend(_dst_transitions(tz, window_start.astimezone(UTC), _BOUNDARY_HORIZON_DAYS + 1))
    return sorted(edges)


@functools.lru_cache(maxsize=64)
def _daily_edges_of(
    schedules: tuple[Schedule, ...], tz: ZoneInfo, today: date
) -> tuple[datetime, ...]:
    return tuple(daily_edges(schedules, tz, today))


def schedule_edges(schedules: Iterable[Schedule], tz: ZoneInfo, at: datetime) -> list[datetime]:
    """Daypart, validity and DST edges of the schedules, all after ``at``."""
    today = at.astimezone(tz).date()
    # A catalogue's schedules are a tuple of frozen values: the day's edges are
    # computed once per day, not once per decision (a week's timeline takes ~80).
    if isinstance(schedules, tuple):
        edges: Iterable[datetime] = _daily_edges_of(schedules, tz, today)
    else:
        edges = daily_edges(schedules, tz, today)
    return [edge for edge in edges if edge > at]


def earliest_after(at: datetime, instants: Iterable[datetime | None]) -> datetime | None:
    later = [instant for instant in instants if instant is not None and instant > at]
    return min(later).astimezone(UTC) if later else None
