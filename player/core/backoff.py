"""Backoff values: how long to wait before retrying, and per-key failure state.

Invariants:
- ``backoff_delay_s`` is "full jitter": a uniform draw in ``[0, min(cap, base * 2**n)]``
  from an injected ``random`` (a callable returning a float in ``[0, 1)``), so
  tests are deterministic and a fleet restarting together does not retry in step.
- A server's ``Retry-After`` is a floor: we never retry earlier than asked,
  but a Retry-After larger than ``max_delay_s`` is still capped there (a
  misbehaving server cannot park a player for a day).
- ``FailureState`` is a frozen value keyed by whatever the caller chooses (a
  sha256 for downloads); ``record_failure`` / ``record_success`` return new
  values. ``next_attempt_at`` is an instant on the caller's (corrected) clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

RandomFn = Callable[[], float]


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff parameters, in seconds."""

    base_delay_s: float = 1.0
    max_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("backoff delays must be >= 0")
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be >= base_delay_s")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry retryable errors. Delays in seconds."""

    max_attempts: int = 5
    max_total_s: float = 300.0
    base_delay_s: float = 1.0
    max_delay_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.max_total_s < 0:
            raise ValueError("max_total_s must be >= 0")

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(self.base_delay_s, self.max_delay_s)


def backoff_ceiling_s(attempt: int, policy: BackoffPolicy) -> float:
    """Upper bound of the delay after failed attempt number ``attempt`` (0-based)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    # Cap the exponent first: 2**attempt overflows floats for large attempt counts.
    exponent = min(attempt, 62)
    return float(min(policy.max_delay_s, policy.base_delay_s * (2**exponent)))


def backoff_delay_s(
    attempt: int,
    policy: BackoffPolicy,
    random: RandomFn,
    retry_after_s: float | None = None,
) -> float:
    """Full-jitter delay after failed attempt ``attempt`` (0-based).

    ``retry_after_s`` (from the server) raises the delay to at least that value,
    capped at ``policy.max_delay_s``.
    """
    r = random()
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"random() must return a value in [0, 1], got {r}")
    delay = backoff_ceiling_s(attempt, policy) * r
    if retry_after_s is not None and retry_after_s > delay:
        delay = min(max(retry_after_s, 0.0), policy.max_delay_s)
    return delay


@dataclass(frozen=True)
class FailureState:
    """Consecutive failures of one key and when it may be tried again."""

    key: str
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None

    def may_attempt(self, now: datetime) -> bool:
        _require_aware(now)
        return self.next_attempt_at is None or now >= self.next_attempt_at


def record_failure(
    state: FailureState,
    now: datetime,
    policy: BackoffPolicy,
    random: RandomFn,
    *,
    error: str | None = None,
    retry_after_s: float | None = None,
) -> FailureState:
    """The state after one more failure at ``now``."""
    _require_aware(now)
    delay_s = backoff_delay_s(state.failures, policy, random, retry_after_s)
    return FailureState(
        key=state.key,
        failures=state.failures + 1,
        next_attempt_at=now + timedelta(seconds=delay_s),
        last_error=error,
    )


def record_success(state: FailureState) -> FailureState:
    """The state after a success: counters cleared."""
    return FailureState(key=state.key)


def ready_keys(states: Mapping[str, FailureState], keys: list[str], now: datetime) -> list[str]:
    """``keys`` (order kept) that have no state or whose backoff has elapsed."""
    _require_aware(now)
    return [k for k in keys if k not in states or states[k].may_attempt(now)]


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
