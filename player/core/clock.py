"""Clock-trust rules (DESIGN.md §3.2), pure: wall and monotonic readings come in.

Invariants
----------
* corrected now = max(wall + offset, lower_bound). The lower bound only moves
  forward and is persisted, so time never goes backwards across reboots.
* The API offset comes from a ``Date`` header: the server stamped it somewhere
  between send and receive, so we compare it with our wall clock at the
  midpoint of the request (timed with monotonic()); the header has 1 s
  resolution, hence +0.5 s.
* A clock step is a change of (wall - monotonic) larger than
  ``STEP_THRESHOLD_S`` between two observations (NTP slews far slower). After
  a step the API offset is shifted by the step, so corrected time is
  unchanged: the offset was measured against the old wall clock.
* trusted: an API offset measured within ``OFFSET_FRESH_S``, or (no API offset
  and) the wall clock is later than the build floor and no step was seen.
* plausible: the *wall* clock is later than the build floor. apscheduler runs
  on the wall clock, so jobs start only once it is plausible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

BUILD_FLOOR = datetime(2025, 1, 1, tzinfo=UTC)
STEP_THRESHOLD_S = 2.0
OFFSET_FRESH_S = 24 * 3600.0
_HEADER_RESOLUTION_S = 1.0


@dataclass(frozen=True)
class ClockState:
    """What the clock knows. ``base_s`` is the last seen wall minus monotonic."""

    lower_bound: datetime | None = None
    offset_s: float = 0.0
    offset_measured_mono: float | None = None
    base_s: float | None = None
    steps: int = 0
    last_step_s: float | None = None


@dataclass(frozen=True)
class ClockStatus:
    trusted: bool
    plausible: bool
    offset_s: float
    offset_age_s: float | None
    lower_bound: datetime | None
    steps: int
    last_step_s: float | None
    reason: str


def corrected_now(state: ClockState, wall: datetime) -> datetime:
    """``max(wall + offset, lower_bound)`` in UTC."""
    now = (wall + timedelta(seconds=state.offset_s)).astimezone(UTC)
    if state.lower_bound is not None and state.lower_bound > now:
        return state.lower_bound
    return now


def raise_lower_bound(state: ClockState, at: datetime) -> ClockState:
    """Move the lower bound to ``at`` if that is later; never backwards."""
    if state.lower_bound is not None and at <= state.lower_bound:
        return state
    return replace(state, lower_bound=at.astimezone(UTC))


def observe(state: ClockState, wall: datetime, mono_s: float) -> tuple[ClockState, float | None]:
    """Record a reading; returns the new state and the step in seconds, if any."""
    base_s = wall.timestamp() - mono_s
    if state.base_s is None:
        return replace(state, base_s=base_s), None
    step_s = base_s - state.base_s
    if abs(step_s) <= STEP_THRESHOLD_S:
        # Slewing (NTP) moves wall against monotonic slowly: absorb it.
        return replace(state, base_s=base_s), None
    return (
        replace(
            state,
            base_s=base_s,
            offset_s=state.offset_s - step_s if state.offset_measured_mono is not None else 0.0,
            steps=state.steps + 1,
            last_step_s=step_s,
        ),
        step_s,
    )


def offset_from_date(
    server_time: datetime, sent_mono_s: float, received_mono_s: float,
    received_wall: datetime,
) -> float:
    """Seconds to add to the wall clock, from a ``Date`` header and request timing."""
    if received_mono_s < sent_mono_s:
        raise ValueError("received before sent: monotonic times swapped")
    rtt_s = received_mono_s - sent_mono_s
    wall_at_mid = received_wall - timedelta(seconds=rtt_s / 2)
    server_mid = server_time + timedelta(seconds=_HEADER_RESOLUTION_S / 2)
    return (server_mid - wall_at_mid).total_seconds()


def apply_offset(
    state: ClockState, server_time: datetime, sent_mono_s: float, received_mono_s: float,
    received_wall: datetime,
) -> ClockState:
    """Adopt the API's time as the offset (measured now)."""
    offset_s = offset_from_date(server_time, sent_mono_s, received_mono_s, received_wall)
    base_s = received_wall.timestamp() - received_mono_s
    return replace(
        state, offset_s=offset_s, offset_measured_mono=received_mono_s, base_s=base_s
    )


def status(state: ClockState, wall: datetime, mono_s: float) -> ClockStatus:
    """Trust and plausibility at this reading."""
    plausible = wall >= BUILD_FLOOR
    age_s = None if state.offset_measured_mono is None else mono_s - state.offset_measured_mono
    if age_s is not None and age_s <= OFFSET_FRESH_S:
        trusted, reason = True, f"API offset measured {age_s:.0f} s ago"
    elif age_s is not None:
        trusted, reason = False, f"API offset is stale ({age_s:.0f} s old)"
    elif not plausible:
        trusted, reason = False, f"wall clock before {BUILD_FLOOR.date()} and no API time yet"
    elif state.steps:
        trusted, reason = False, f"wall clock stepped {state.last_step_s:+.1f} s, no API time"
    else:
        trusted, reason = True, "wall clock plausible and steady"
    return ClockStatus(
        trusted=trusted,
        plausible=plausible,
        offset_s=state.offset_s,
        offset_age_s=age_s,
        lower_bound=state.lower_bound,
        steps=state.steps,
        last_step_s=state.last_step_s,
        reason=reason,
    )



IN_STEP_S = 1.0  # a ``Date`` header has 1 s resolution: below this the clocks agree
_MINUTE_S = 60
_HOUR_S = 3600
_DAY_S = 86_400
_YEAR_S = 365 * _DAY_S


def describe_offset(offset_s: float) -> str:
    """An API clock offset in words for a technician.

    ``offset_s`` is API time minus local time (what ``offset_from_date`` returns
    and ``corrected_now`` adds): positive means this box's clock is *behind*.
    Examples: "in step with the API (0.4 s)", "this box is 2 h 00 min ahead of
    the API", "this box is 2 y 183 d behind the API". Two units at most (years
    are 365 d), the second zero-padded.
    """
    if not math.isfinite(offset_s):
        return f"offset unknown ({offset_s})"
    magnitude = abs(offset_s)
    if magnitude < IN_STEP_S:
        return f"in step with the API ({magnitude:.1f} s)"
    side = "behind" if offset_s > 0 else "ahead of"
    return f"this box is {_duration_words(magnitude)} {side} the API"


def _duration_words(seconds: float) -> str:
    if round(seconds, 1) < _MINUTE_S:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < _HOUR_S:
        return f"{whole // _MINUTE_S} min {whole % _MINUTE_S:02d} s"
    if whole < _DAY_S:
        return f"{whole // _HOUR_S} h {whole % _HOUR_S // _MINUTE_S:02d} min"
    if whole < _YEAR_S:
        return f"{whole // _DAY_S} d {whole % _DAY_S // _HOUR_S:02d} h"
    return f"{whole // _YEAR_S} y {whole % _YEAR_S // _DAY_S} d"
