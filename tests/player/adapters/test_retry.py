"""TenacityRetrier: the Retrier the syncer gets from the composition root."""

from __future__ import annotations

import pytest

from player.adapters.retry import TenacityRetrier
from player.core.backoff import RetryPolicy
from player.errors import ApiProtocolError, ApiUnavailable
from player.ports import Retrier
from tests.player.adapters.conftest import FakeSleep, constant_random


class Flaky:
    """Raises the given errors in turn, then answers ``value``."""

    def __init__(self, *errors: Exception, value: str = "ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def test_retries_retryable_errors_no_sooner_than_retry_after() -> None:
    sleep = FakeSleep()
    retrier: Retrier = TenacityRetrier(
        RetryPolicy(max_attempts=4), sleep=sleep, random=constant_random(0.0)
    )
    flaky = Flaky(
        ApiUnavailable("busy", status=503, retry_after_s=7.0), ApiUnavailable("busy", status=503)
    )
    assert retrier.call(flaky) == "ok"
    assert flaky.calls == 3
    assert sleep.calls[0] >= 7.0
    assert len(sleep.calls) == 2


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    sleep = FakeSleep()
    retrier = TenacityRetrier(RetryPolicy(max_attempts=3), sleep=sleep)
    flaky = Flaky(*(ApiUnavailable(f"busy {n}") for n in range(5)))
    with pytest.raises(ApiUnavailable, match="busy 2"):
        retrier.call(flaky)
    assert flaky.calls == 3


def test_does_not_retry_an_error_that_is_not_retryable() -> None:
    sleep = FakeSleep()
    flaky = Flaky(ApiProtocolError("bad", status=400))
    with pytest.raises(ApiProtocolError):
        TenacityRetrier(RetryPolicy(), sleep=sleep).call(flaky)
    assert flaky.calls == 1
    assert sleep.calls == []
