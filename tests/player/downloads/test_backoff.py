"""Backoff values and per-key failure state (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.core.backoff import (
    BackoffPolicy,
    FailureState,
    backoff_ceiling_s,
    backoff_delay_s,
    ready_keys,
    record_failure,
    record_success,
)

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
POLICY = BackoffPolicy(base_delay_s=2.0, max_delay_s=100.0)


def test_ceiling_doubles_then_caps() -> None:
    assert [backoff_ceiling_s(n, POLICY) for n in range(8)] == [2, 4, 8, 16, 32, 64, 100, 100]
    assert backoff_ceiling_s(10_000, POLICY) == 100


def test_full_jitter_uses_the_injected_random() -> None:
    assert backoff_delay_s(3, POLICY, lambda: 0.25) == 4.0
    assert backoff_delay_s(3, POLICY, lambda: 0.0) == 0.0


def test_retry_after_is_a_floor_but_capped() -> None:
    assert backoff_delay_s(0, POLICY, lambda: 0.5, retry_after_s=30) == 30
    assert backoff_delay_s(0, POLICY, lambda: 0.5, retry_after_s=10_000) == 100


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_ceiling_s(-1, POLICY)
    with pytest.raises(ValueError, match="random"):
        backoff_delay_s(0, POLICY, lambda: 2.0)
    with pytest.raises(ValueError, match="max_delay_s"):
        BackoffPolicy(base_delay_s=10, max_delay_s=1)
    with pytest.raises(ValueError, match="timezone"):
        FailureState("k").may_attempt(datetime(2026, 1, 1))


@given(st.integers(0, 200), st.floats(0, 1), st.none() | st.floats(0, 1e6))
def test_delay_is_always_within_zero_and_the_cap(
    attempt: int, r: float, retry_after: float | None
) -> None:
    delay = backoff_delay_s(attempt, POLICY, lambda: r, retry_after)
    assert 0 <= delay <= POLICY.max_delay_s
    if retry_after is not None:
        assert delay >= min(retry_after, POLICY.max_delay_s)


def test_failure_state_backs_off_per_key_and_clears_on_success() -> None:
    state = FailureState("abc")
    assert state.may_attempt(NOW)

    state = record_failure(state, NOW, POLICY, lambda: 1.0, error="HTTP 503")
    assert (state.failures, state.last_error) == (1, "HTTP 503")
    assert state.next_attempt_at == NOW + timedelta(seconds=2)
    state = record_failure(state, NOW, POLICY, lambda: 1.0)
    assert state.next_attempt_at == NOW + timedelta(seconds=4)
    assert not state.may_attempt(NOW + timedelta(seconds=3))
    assert state.may_attempt(NOW + timedelta(seconds=4))

    states = {"abc": state}
    assert ready_keys(states, ["abc", "new"], NOW) == ["new"]
    assert record_success(state) == FailureState("abc")
