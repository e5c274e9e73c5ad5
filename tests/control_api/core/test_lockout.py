"""The enrollment lockout rule, on any sequence of bad codes, good codes and waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from control_api.core.lockout import (
    Failures,
    after_failure,
    after_success,
    expired_before,
    locked_for_s,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MAX, WINDOW_S = 3, 60


def test_the_failure_that_reaches_the_limit_is_a_401_and_starts_the_lock() -> None:
    state = None
    answers = []
    for _ in range(MAX + 2):
        verdict = after_failure(state, T0, MAX, WINDOW_S)
        answers.append((verdict.retry_after_s, verdict.locked_now))
        state = verdict.state
    assert answers == [(None, False)] * (MAX - 1) + [(None, True), (60, False), (60, False)]


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    state = None
    for i in range(10):
        verdict = after_failure(state, T0 + timedelta(seconds=31 * i), MAX, WINDOW_S)
        assert verdict.retry_after_s is None and not verdict.locked_now
        state = verdict.state


def test_a_success_clears_the_count_but_not_a_lock() -> None:
    counted = Failures(MAX - 1, T0)
    assert after_success(counted, T0) is None
    locked = Failures(MAX, T0, T0 + timedelta(seconds=WINDOW_S))
    assert after_success(locked, T0 + timedelta(seconds=1)) == locked
    assert after_success(locked, T0 + timedelta(seconds=WINDOW_S)) is None


events = st.lists(
    st.tuples(st.sampled_from(["bad", "good"]), st.integers(min_value=0, max_value=90)),
    max_size=40,
)


@given(events)
def test_any_history(history: list[tuple[str, int]]) -> None:
    now, state = T0, None
    for kind, wait_s in history:
        now += timedelta(seconds=wait_s)
        if kind == "good":
            state = after_success(state, now)
            continue
        before = locked_for_s(state, now)
        verdict = after_failure(state, now, MAX, WINDOW_S)
        # A 429 exactly when the address was locked; never longer than the window.
        assert verdict.retry_after_s == before
        if before is not None:
            assert 1 <= before <= WINDOW_S
            assert verdict.state == state  # a locked address's failures are not counted
        state = verdict.state
        assert state.count <= MAX
        # Pruning by expired_before never drops a live record, and a pruned one is over.
        assert state.window_started_at >= expired_before(now, WINDOW_S)
        later = state.window_started_at + 2 * timedelta(seconds=WINDOW_S)
        assert locked_for_s(state, later) is None
