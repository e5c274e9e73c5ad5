"""Sign-in throttling rules (pure; the records live in the database, time is a parameter).

Two records slow down password guessing, neither ever by address alone (one
shop behind a NAT holds many directors):

- per (account, client address): after ``PAIR.free_failures`` wrong passwords
  the pair waits an exponentially growing delay (1 s, 2 s, 4 s, ... up to
  5 min) before its next attempt is even checked. That account from another
  address, and another account from that address, are not slowed.
- per account, across addresses: the same rule with a looser threshold
  (``ACCOUNT.free_failures``) and a shorter cap, so that a guesser spread over
  many addresses gets about one guess a minute, while the account's owner
  waits at most that minute.

A failure counts only when the attempt was allowed (an attempt refused during
a delay neither extends it nor is checked). A record with no failure for
``forget_after_s`` is over. A good password clears both records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limits:
    free_failures: int  # failures before any delay
    base_delay_s: float  # the delay after the first failure past the free ones
    max_delay_s: float
    forget_after_s: float  # a record idle this long is forgotten


PAIR = Limits(free_failures=5, base_delay_s=1.0, max_delay_s=300.0, forget_after_s=900.0)
ACCOUNT = Limits(free_failures=50, base_delay_s=1.0, max_delay_s=60.0, forget_after_s=3600.0)


@dataclass(frozen=True)
class Failures:
    """One record: ``count`` wrong passwords, the last at ``last_failed_at``."""

    count: int
    last_failed_at: datetime


def current(state: Failures | None, now: datetime, limits: Limits) -> Failures | None:
    """The record as it stands at ``now`` (None once forgotten)."""
    if state is None:
        return None
    if (now - state.last_failed_at).total_seconds() >= limits.forget_after_s:
        return None
    return state


def delay_s(count: int, limits: Limits) -> float:
    """How long after its last failure a record of ``count`` failures waits."""
    over = count - limits.free_failures
    if over <= 0:
        return 0.0
    # min() before the power: a huge count must not overflow the float.
    return min(limits.max_delay_s, limits.base_delay_s * 2.0 ** min(over - 1, 64))


def retry_after_s(state: Failures | None, now: datetime, limits: Limits) -> int | None:
    """Whole seconds (>= 1) before the next attempt is checked, or None: allowed now."""
    state = current(state, now, limits)
    if state is None:
        return None
    wait = delay_s(state.count, limits)
    left = (state.last_failed_at + timedelta(seconds=wait) - now).total_seconds()
    if left <= 0:
        return None
    return max(1, math.ceil(left))


def after_failure(state: Failures | None, now: datetime, limits: Limits) -> Failures:
    """The record after one more wrong password (of an attempt that was allowed)."""
    state = current(state, now, limits)
    return Failures((state.count if state is not None else 0) + 1, now)


def forgotten_before(now: datetime) -> datetime:
    """Records whose last failure is before this are over under every limit: prune them."""
    longest = max(PAIR.forget_after_s, ACCOUNT.forget_after_s)
    return now - timedelta(seconds=longest)
