"""Retries for any call, on tenacity: the mechanism behind ``player.ports.Retrier``.

The policy (``player.core.backoff.RetryPolicy``) is exponential backoff with
full jitter (``backoff_delay_s``), never sooner than the server's Retry-After
(an error's ``retry_after_s``), bounded by attempts and total time. Only
retryable errors (``PlayerError.retryable``) are retried; the last error
propagates when giving up. ``sleep`` and ``random`` are injectable so tests
run instantly and deterministically.
"""

from __future__ import annotations

import functools
import logging
import random as random_module
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tenacity

from player.core.backoff import RandomFn, RetryPolicy, backoff_delay_s
from player.errors import PlayerError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """True for the player's retryable errors (ApiUnavailable, retryable DownloadError)."""
    return isinstance(exc, PlayerError) and exc.retryable


def retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    random: RandomFn = random_module.random,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for ``policy``; re-raises the last error when giving up.

    ``sleep`` and ``random`` are injectable so tests run instantly and deterministically.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(exc, "retry_after_s", None)
        return backoff_delay_s(
            state.attempt_number - 1,
            policy.backoff,
            random,
            retry_after if isinstance(retry_after, int | float) else None,
        )

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        # With a fake sleep no real time passes, so count the planned sleeps too.
        elapsed_s = max(state.seconds_since_start or 0.0, state.idle_for)
        return elapsed_s + state.upcoming_sleep > policy.max_total_s

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        # Debug only: the caller logs the failing/recovered transition once; a
        # line per retry would fill an SD card during a long outage.
        log.debug(
            "attempt %d failed (%s); retrying in %.1f s",
            state.attempt_number,
            exc,
            state.upcoming_sleep,
        )

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_retryable),
        wait=wait,
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    random: RandomFn = random_module.random,
) -> T:
    """Call ``fn`` under ``policy``; the last error propagates when giving up."""
    return retrying(policy, sleep=sleep, random=random)(fn)


def with_retry(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    random: RandomFn = random_module.random,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of ``call_with_retry``."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return retrying(policy, sleep=sleep, random=random)(fn, *args, **kwargs)

        return wrapper

    return decorate


class TenacityRetrier:
    """A ``player.ports.Retrier``: ``call(fn)`` is ``call_with_retry(fn, policy)``."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        random: RandomFn = random_module.random,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._random = random

    def call(self, fn: Callable[[], T]) -> T:
        return call_with_retry(fn, self.policy, sleep=self._sleep, random=self._random)
