"""Clock-trust rules (DESIGN.md §3.2), pure: wall and monotonic readings come in.

Invariants
----------
* corrected now = max(wall + offset, lower_bound). The lower bound only moves
  forward and is persisted, so time never goes backwards across reboots.
* The API offset comes from a ``Date`` header: the server stamped it somewhere
  between send and receive, so we compare it with our wall clock at the
  midpoint of the request (timed with monotonic()); the header has 1 s
  resolution, hence +0.5 s. ``offset_from_date`` is the one place this is
  computed: the HTTP adapter (``ManifestFetch``), the clock and ``doctor``
  all call it. The header is parsed once, by the HTTP adapter, into a
  ``ServerTime`` (aware instant plus the request's monotonic instants).
* A clock step is a change of (wall - monotonic) larger than
  ``STEP_THRESHOLD_S`` between two observations (NTP slews far slower). After
  a step the API offset is shifted by the step, so corrected time is
  unchanged: the offset was measured against the old wall clock.
* trusted: an API offset measured within ``OFFSET_FRESH_S``, or (no API offset
  and) the wall clock is later than the build floor and no step was seen.
* plausible: the *wall* clock is later than the build floor. apscheduler runs
  on the wall clock, so jobs start only once it is plausible.

Server times (issue 10: a compromised or man-in-the-middle API)
---------------------------------------------------------------
* A ``Date`` is *plausible* only within ``BUILD_FLOOR`` .. ``LATEST_PLAUSIBLE``
  (the build floor plus ``PLAUSIBLE_SPAN``, 20 years: longer than a box lives).
  Outside it the header is ignored, always: nothing can confirm 2099 or 9999.
* A plausible ``Date`` more than ``MAX_FORWARD_STEP`` (366 days) ahead of the
  reference is refused, unless *confirmed*. The reference is the best
  current guess not taken from this header: wall + the last accepted API
  offset; else the wall clock when it is plausible; else the lower bound
  when it is plausible; else nothing, so a box booting at 1970 with no RTC
  and no bound accepts its first API ``Date`` anywhere in the plausible span.
* *Confirmed* (what "trusted" means for a server time): the same offset
  (within ``CONFIRM_TOLERANCE_S``) on ``CONFIRMATIONS`` (3) consecutive
  ``Date`` observations. A refused forward jump that is confirmed is adopted:
  a box off the shelf after two years still converges.
* The lower bound is "never before the last trusted time". A confirmed API
  time earlier than the bound by more than ``FLOOR_TOLERANCE_S`` means the
  bound was poisoned: it is lowered to the API time (and corrected time may
  go back, once, to the truth). A bound is never raised to, nor loaded
  from, an implausible time (``plausible_bound``), so a bound persisted by an
  older player in 2099 is dropped at start.
* Every instant is clamped (``add_seconds``) so no arithmetic overflows
  datetime's range, whatever the wall clock or the offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

BUILD_FLOOR = datetime(2025, 1, 1, tzinfo=UTC)  # nothing before this build is plausible
PLAUSIBLE_SPAN = timedelta(days=20 * 365)
LATEST_PLAUSIBLE = BUILD_FLOOR + PLAUSIBLE_SPAN  # exclusive
MAX_FORWARD_STEP = timedelta(days=366)
CONFIRMATIONS = 3
CONFIRM_TOLERANCE_S = 5.0
FLOOR_TOLERANCE_S = 60.0
# datetime's range, a day inside it so a later zone conversion cannot overflow.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
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
    # The last plausible API offset seen and on how many consecutive Dates it
    # agreed (within CONFIRM_TOLERANCE_S): CONFIRMATIONS of them make it trusted.
    candidate_offset_s: float | None = None
    candidate_count: int = 0


@dataclass(frozen=True)
class ServerTime:
    """One server ``Date`` parsed once (tz-aware, 1 s resolution) and the request's timing.

    ``sent_mono_s``/``received_mono_s`` are the monotonic instants that bracket
    the request (the server stamped ``at`` somewhere in between).
    """

    at: datetime
    sent_mono_s: float
    received_mono_s: float

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"server time must be timezone-aware, got {self.at!r}")
        if self.received_mono_s < self.sent_mono_s:
            raise ValueError("received before sent: monotonic times swapped")

    def offset_s(self, received_wall: datetime) -> float:
        """``offset_from_date`` for this reading (``received_wall``: wall clock at receipt)."""
        return offset_from_date(self.at, self.sent_mono_s, self.received_mono_s, received_wall)


@dataclass(frozen=True)
class DateVerdict:
    """What ``observe_server_time`` made of one ``Date``."""

    state: ClockState
    accepted: bool
    lowered_bound: bool
    reason: str


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


def stored_instant(raw: str | None) -> datetime | None:
    """A persisted ISO instant as tz-aware UTC; None when absent, naive or unparsable."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def add_seconds(at: datetime, seconds: float) -> datetime:
    """``at + seconds`` in UTC, clamped to datetime's range (never OverflowError)."""
    at = clamp(at)
    if not math.isfinite(seconds):
        return _LATEST if seconds > 0 else _EARLIEST
    room_up = (_LATEST - at).total_seconds()
    room_down = (_EARLIEST - at).total_seconds()
    if seconds >= room_up:
        return _LATEST
    if seconds <= room_down:
        return _EARLIEST
    return at + timedelta(seconds=seconds)


def clamp(at: datetime) -> datetime:
    """``at`` in UTC, inside datetime's range with a day to spare."""
    try:
        utc = at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 in a zone
        return _EARLIEST if at.year < 5000 else _LATEST
    return min(max(utc, _EARLIEST), _LATEST)


def plausible_time(at: datetime) -> bool:
    """Within ``BUILD_FLOOR`` .. ``LATEST_PLAUSIBLE`` (excluded)."""
    return BUILD_FLOOR <= at < LATEST_PLAUSIBLE


def plausible_bound(bound: datetime | None) -> datetime | None:
    """A persisted lower bound if plausible, else None (an older player may have stored 2099)."""
    if bound is None or bound.tzinfo is None or not plausible_time(clamp(bound)):
        return None
    return clamp(bound)


def corrected_now(state: ClockState, wall: datetime) -> datetime:
    """``max(wall + offset, lower_bound)`` in UTC, clamped to datetime's range."""
    now = add_seconds(wall, state.offset_s)
    if state.lower_bound is not None and state.lower_bound > now:
        return state.lower_bound
    return now


def raise_lower_bound(state: ClockState, at: datetime) -> ClockState:
    """Move the lower bound to ``at`` if that is later and plausible; never backwards."""
    if state.lower_bound is not None and at <= state.lower_bound:
        return state
    if not plausible_time(clamp(at)):
        return state
    return replace(state, lower_bound=clamp(at))


def reference_time(state: ClockState, wall: datetime) -> datetime | None:
    """The best guess of now not taken from a new ``Date`` (see the module docstring)."""
    if state.offset_measured_mono is not None:
        return add_seconds(wall, state.offset_s)
    if plausible_time(clamp(wall)):
        return clamp(wall)
    if state.lower_bound is not None and plausible_time(state.lower_bound):
        return state.lower_bound
    return None


def observe_server_time(
    state: ClockState,
    server_time: datetime,
    sent_mono_s: float,
    received_mono_s: float,
    received_wall: datetime,
) -> DateVerdict:
    """Judge one API ``Date`` (rules at the top): adopt, refuse, or lower a poisoned bound."""
    server_time = clamp(server_time)
    if not plausible_time(server_time):
        return DateVerdict(
            state,
            False,
            False,
            f"Date {server_time.isoformat()} outside {BUILD_FLOOR.date()} .. "
            f"{LATEST_PLAUSIBLE.date()}",
        )
    offset_s = offset_from_date(server_time, sent_mono_s, received_mono_s, received_wall)
    agrees = (
        state.candidate_offset_s is not None
        and abs(offset_s - state.candidate_offset_s) <= CONFIRM_TOLERANCE_S
    )
    count = state.candidate_count + 1 if agrees else 1
    seen = replace(state, candidate_offset_s=offset_s, candidate_count=count)
    confirmed = count >= CONFIRMATIONS
    reference = reference_time(state, received_wall)
    if (
        reference is not None
        and server_time > add_seconds(reference, MAX_FORWARD_STEP.total_seconds())
        and not confirmed
    ):
        return DateVerdict(
            seen,
            False,
            False,
            f"Date {server_time.isoformat()} is more than {MAX_FORWARD_STEP.days} d ahead of "
            f"{reference.isoformat()} (seen {count}/{CONFIRMATIONS} times)",
        )
    adopted = replace(
        seen,
        offset_s=offset_s,
        offset_measured_mono=received_mono_s,
        base_s=received_wall.timestamp() - received_mono_s,
    )
    api_now = add_seconds(received_wall, offset_s)
    bound = adopted.lower_bound
    if confirmed and bound is not None and (bound - api_now).total_seconds() > FLOOR_TOLERANCE_S:
        return DateVerdict(
            replace(adopted, lower_bound=api_now),
            True,
            True,
            f"lower bound {bound.isoformat()} lowered to {api_now.isoformat()} "
            f"(API time confirmed {count} times)",
        )
    return DateVerdict(adopted, True, False, "adopted")


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
            candidate_offset_s=None
            if state.candidate_offset_s is None
            else state.candidate_offset_s - step_s,
            steps=state.steps + 1,
            last_step_s=step_s,
        ),
        step_s,
    )


def offset_from_date(
    server_time: datetime,
    sent_mono_s: float,
    received_mono_s: float,
    received_wall: datetime,
) -> float:
    """Seconds to add to the wall clock, from a ``Date`` header and request timing."""
    if received_mono_s < sent_mono_s:
        raise ValueError("received before sent: monotonic times swapped")
    rtt_s = received_mono_s - sent_mono_s
    wall_at_mid = add_seconds(received_wall, -rtt_s / 2)
    server_mid = add_seconds(server_time, _HEADER_RESOLUTION_S / 2)
    return (server_mid - wall_at_mid).total_seconds()


def apply_offset(
    state: ClockState,
    server_time: datetime,
    sent_mono_s: float,
    received_mono_s: float,
    received_wall: datetime,
) -> ClockState:
    """Adopt the API's time as the offset (measured now)."""
    offset_s = offset_from_date(server_time, sent_mono_s, received_mono_s, received_wall)
    base_s = received_wall.timestamp() - received_mono_s
    return replace(state, offset_s=offset_s, offset_measured_mono=received_mono_s, base_s=base_s)


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
