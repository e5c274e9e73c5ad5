"""The enrollment lockout rule (pure; the state lives in the database, time is a parameter).

An address that sends ``max_failures`` bad codes within ``window_s`` of its
first one is locked for ``window_s``: its further bad codes are answered 429
with the seconds left, and are not counted (the lock is not extended, so a
shop behind the same NAT is not kept out by a neighbour who keeps trying).
A good code is never refused (the caller enrolls before asking this module);
it clears the count of an address that is not locked.

The codes carry 80 random bits: guessing is not what the lockout prevents.
It tells a misconfigured or hostile client to stop, and names it in the log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Failures:
    """One address's record: ``count`` bad codes since ``window_started_at``."""

    count: int
    window_started_at: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    state: Failures
    retry_after_s: int | None  # set: answer 429 with this Retry-After
    locked_now: bool  # this failure started the lock (log it once)


def locked_for_s(state: Failures | None, now: datetime) -> int | None:
    """Whole seconds (>= 1) the address stays locked, or None."""
    if state is None or state.locked_until is None or state.locked_until <= now:
        return None
    return max(1, math.ceil((state.locked_until - now).total_seconds()))


def after_failure(
    state: Failures | None, now: datetime, max_failures: int, window_s: int
) -> Verdict:
    """The record after one more bad code, and how to answer it."""
    remaining = locked_for_s(state, now)
    if state is not None and remaining is not None:
        return Verdict(state, remaining, False)
    window = timedelta(seconds=window_s)
    if state is None or state.locked_until is not None or now - state.window_started_at >= window:
        state = Failures(0, now)
    count = state.count + 1
    if count >= max_failures:
        return Verdict(Failures(count, state.window_started_at, now + window), None, True)
    return Verdict(Failures(count, state.window_started_at), None, False)


def after_success(state: Failures | None, now: datetime) -> Failures | None:
    """A good code clears the count; a lock runs to its end."""
    return state if locked_for_s(state, now) is not None else None


def expired_before(now: datetime, window_s: int) -> datetime:
    """Records whose window started before this are over (window and lock): prune them."""
    return now - 2 * timedelta(seconds=window_s)
