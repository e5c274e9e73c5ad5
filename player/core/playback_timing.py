"""The playback loop's timing rules, pure: what is due next, and when (issue 11).

Every time is a parameter: ``*_mono`` are seconds on the monotonic clock,
``*_at`` wall instants. Nothing here reads a clock, sleeps or starts a thread;
``player.runtime.playback`` reads the clock, asks these rules and waits.

For the item that plays (``ItemTiming``) the deadlines are, in priority order
when several are due at once:

- ``AUDIO_CHECK``: ``audio_check_s`` after the start (60 % of a shorter item):
  ask the output whether sound reaches a device;
- ``HAND_OVER``: ``prepare_lead_s`` before the projected end: decide and
  prepare the next item (never for an item shorter than ``min_interval_s``);
- ``START_NEXT``: with an output that mixes and the next item ready,
  ``start_lead_s`` plus the crossfade before the projected end;
- ``FINISH``: the projected end when it is a cap or the output already
  reported the end, else the projected end plus ``end_grace_s``;
- ``HEARTBEAT``: nothing else within ``heartbeat_s``: wake to beat anyway.

Crossfades are ``Ramp``s: a gain going from ``from_gain`` to ``to_gain`` over
``duration_s`` along ``curve`` (linear today; issue 14's curves are other
``Curve`` functions), served every ``ramp_step_s`` while they run. A ramp of
duration 0 is a timed stop (a capped item cut at its cap while the next one
already plays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# A curve maps the share of the ramp done (0..1) to the share of the gain change.
Curve = Callable[[float], float]


def linear(share: float) -> float:
    return share


@dataclass(frozen=True)
class TimingSettings:
    prepare_lead_s: float = 0.5
    start_lead_s: float = 0.02
    end_grace_s: float = 2.0
    crossfade_s: float = 0.0
    heartbeat_s: float = 10.0
    audio_check_s: float = 1.5
    min_interval_s: float = 1.0
    silence_cap_s: float = 30.0
    ramp_step_s: float = 0.05


@dataclass(frozen=True)
class ItemTiming:
    """What the rules need to know of the item that plays."""

    started_mono: float
    end_mono: float | None  # projected audible end: natural length or cap, whichever first
    capped: bool = False  # end_mono is a cap: the item is stopped there
    handed_over: bool = False  # the next item was decided already
    output_ended: bool = False  # the output reported the end (may precede the audible end)
    audio_check_mono: float | None = None  # None once asked


class Due(StrEnum):
    AUDIO_CHECK = "audio_check"
    HAND_OVER = "hand_over"
    START_NEXT = "start_next"
    FINISH = "finish"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Deadline:
    at_mono: float  # never before the ``now_mono`` it was computed for
    due: Due


# -- the item's own times -------------------------------------------------------------


def projected_end(
    started_mono: float, length_ms: int | None, cap_ms: int | None, default_ms: int
) -> tuple[float, bool]:
    """The audible end (and whether it is a cap): the length or the cap, whichever first.

    An item of unknown length without a cap plays ``default_ms``.
    """
    if length_ms is None and cap_ms is None:
        cap_ms = default_ms
    if cap_ms is not None and (length_ms is None or cap_ms < length_ms):
        return started_mono + cap_ms / 1000, True
    assert length_ms is not None
    return started_mono + length_ms / 1000, False


def audio_check_at(started_mono: float, end_mono: float, audio_check_s: float) -> float:
    """When to ask whether the item is heard: ``audio_check_s`` in, or at 60 % of a short item."""
    return started_mono + min(audio_check_s, 0.6 * (end_mono - started_mono))


def hand_over_at(item: ItemTiming, settings: TimingSettings) -> float:
    assert item.end_mono is not None
    return item.end_mono - settings.prepare_lead_s


def may_hand_over(item: ItemTiming, settings: TimingSettings) -> bool:
    """False for an item shorter than the minimum interval: the next one waits for the throttle."""
    assert item.end_mono is not None
    return item.end_mono - item.started_mono >= settings.min_interval_s


def finish_at(item: ItemTiming, settings: TimingSettings) -> float:
    assert item.end_mono is not None
    if item.capped or item.output_ended:
        return item.end_mono
    return item.end_mono + settings.end_grace_s


def fade_s(both_music: bool, overlap: bool, settings: TimingSettings) -> float:
    """The crossfade between two items: only music into music, on an output that mixes."""
    return settings.crossfade_s if both_music and overlap else 0.0


def start_next_at(item: ItemTiming, fade: float, settings: TimingSettings) -> float:
    """With overlap: start the next item this early, so the fade ends at the projected end."""
    assert item.end_mono is not None
    return item.end_mono - settings.start_lead_s - fade


def next_deadline(
    now_mono: float,
    item: ItemTiming,
    settings: TimingSettings,
    *,
    next_ready: bool = False,
    fade: float = 0.0,
) -> Deadline:
    """What is due next for ``item`` and when; ``at_mono == now_mono`` when it is due now.

    ``next_ready``: the next item is prepared and the output mixes (it will
    start overlapping); ``fade``: the crossfade between the two.
    """
    candidates: list[tuple[float, Due]] = []
    if item.audio_check_mono is not None:
        candidates.append((item.audio_check_mono, Due.AUDIO_CHECK))
    if item.end_mono is not None:
        if not item.handed_over:
            candidates.append((hand_over_at(item, settings), Due.HAND_OVER))
        elif next_ready:
            candidates.append((start_next_at(item, fade, settings), Due.START_NEXT))
        candidates.append((finish_at(item, settings), Due.FINISH))
    for at_mono, due in candidates:  # priority order among those already due
        if at_mono <= now_mono:
            return Deadline(now_mono, due)
    heartbeat = Deadline(now_mono + settings.heartbeat_s, Due.HEARTBEAT)
    earliest = min(candidates, key=lambda c: c[0], default=None)
    if earliest is None or earliest[0] >= heartbeat.at_mono:
        return heartbeat
    return Deadline(earliest[0], earliest[1])


# -- between items ----------------------------------------------------------------------


def next_attempt_at(
    last_attempt_mono: float | None, now_mono: float, min_interval_s: float
) -> float:
    """The throttle: the next item starts (or is tried) no sooner than this."""
    if last_attempt_mono is None:
        return now_mono
    return max(now_mono, last_attempt_mono + min_interval_s)


def silence_wait_s(
    now_at: datetime, next_boundary_at: datetime | None, settings: TimingSettings
) -> float:
    """How long silence lasts before deciding again: until the boundary, at most the cap."""
    if next_boundary_at is None:
        return settings.silence_cap_s
    until_s = (next_boundary_at - now_at).total_seconds()
    return min(settings.silence_cap_s, max(0.0, until_s))


def failure_backoff_s(failures: int) -> float:
    """The pause after consecutive failures: 0.25 s doubling, at most 30 s."""
    return min(30.0, 0.25 * 2.0 ** max(0, failures - 1))


NO_AUDIO_RETRY_MAX_S = 60.0


def no_audio_backoff_s(failures: int) -> float:
    """The pause after consecutive items nobody could hear: 2 s doubling, at most 60 s."""
    return min(NO_AUDIO_RETRY_MAX_S, 2.0 * 2.0 ** max(0, failures - 1))


def alive_due(now_mono: float, due_mono: float | None, alive_persist_s: float) -> float | None:
    """The next "still playing" persist after one at ``now_mono``; None when none is due yet."""
    if due_mono is None or now_mono < due_mono:
        return None
    return now_mono + alive_persist_s


# -- ramps (crossfades, timed stops) ---------------------------------------------------


@dataclass(frozen=True)
class Ramp:
    """A gain ramp (crossfade) or a timed stop (duration 0) for an item that is handing over."""

    token: int
    start_mono: float
    duration_s: float
    from_gain: float
    to_gain: float
    stop_at_end: bool
    curve: Curve = linear

    def done(self, now_mono: float) -> bool:
        return now_mono >= self.start_mono + max(0.0, self.duration_s)

    def gain_at(self, now_mono: float) -> float | None:
        """The gain at ``now_mono``; None before the ramp starts or for a timed stop."""
        if now_mono < self.start_mono or self.duration_s <= 0:
            return None
        share = 1.0 if self.done(now_mono) else (now_mono - self.start_mono) / self.duration_s
        return self.from_gain + (self.to_gain - self.from_gain) * self.curve(share)


def crossfade(
    cur_token: int,
    nxt_token: int,
    now_mono: float,
    fade: float,
    *,
    cur_capped: bool,
    cur_end_mono: float,
) -> tuple[list[Ramp], float]:
    """The ramps when the next item starts over the current one, and when the current is over.

    A fade brings the next item in and the current one out (then stops it);
    without a fade a capped item is stopped at its cap, an uncapped one ends
    by itself.
    """
    if fade > 0:
        ramps = [
            Ramp(nxt_token, now_mono, fade, 0.0, 1.0, False),
            Ramp(cur_token, now_mono, fade, 1.0, 0.0, True),
        ]
        return ramps, now_mono + fade
    if cur_capped:
        return [Ramp(cur_token, cur_end_mono, 0.0, 1.0, 1.0, True)], cur_end_mono
    return [], cur_end_mono


def next_ramp_wake_s(ramps: Iterable[Ramp], now_mono: float, step_s: float) -> float | None:
    """How long until a ramp needs serving; None without ramps."""
    waits = []
    for ramp in ramps:
        if now_mono < ramp.start_mono:
            waits.append(ramp.start_mono - now_mono)
        elif ramp.duration_s > 0:
            waits.append(step_s)
        else:
            waits.append(0.0)
    return max(0.0, min(waits)) if waits else None


def wait_timeout_s(
    now_mono: float,
    deadline_mono: float,
    settings: TimingSettings,
    ramps: Iterable[Ramp] = (),
    tail_ends_mono: Iterable[float] = (),
) -> float:
    """How long to block for a message: until the deadline, a ramp step, a tail's end or a beat."""
    timeout_s = max(0.0, min(deadline_mono - now_mono, settings.heartbeat_s))
    ramp_wake = next_ramp_wake_s(ramps, now_mono, settings.ramp_step_s)
    if ramp_wake is not None:
        timeout_s = min(timeout_s, ramp_wake)
    for end in tail_ends_mono:
        timeout_s = max(0.0, min(timeout_s, end - now_mono))
    return timeout_s
