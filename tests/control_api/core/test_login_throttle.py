"""The sign-in throttle's rules: delays grow, stay bounded, and end; a guesser is slowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from control_api.core import login_throttle as throttle
from control_api.core.accounts import safe_next_path

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
limits_st = st.builds(
    throttle.Limits,
    free_failures=st.integers(1, 60),
    # Whole seconds: a datetime holds microseconds, a float delay would round.
    base_delay_s=st.integers(1, 10).map(float),
    max_delay_s=st.integers(10, 900).map(float),
    forget_after_s=st.integers(901, 7200).map(float),
)


@given(limits=limits_st, count=st.integers(0, 10_000))
def test_the_delay_grows_with_failures_and_stays_bounded(
    limits: throttle.Limits, count: int
) -> None:
    delay = throttle.delay_s(count, limits)
    assert 0 <= delay <= limits.max_delay_s
    assert throttle.delay_s(count + 1, limits) >= delay
    if count <= limits.free_failures:
        assert delay == 0


@given(limits=limits_st, count=st.integers(1, 10_000), waited_s=st.floats(0, 10_000))
def test_an_attempt_is_allowed_exactly_once_the_delay_has_passed(
    limits: throttle.Limits, count: int, waited_s: float
) -> None:
    state = throttle.Failures(count, T0)
    now = T0 + timedelta(seconds=waited_s)
    waited_s = (now - T0).total_seconds()  # as a timedelta holds it (microseconds)
    wait = throttle.retry_after_s(state, now, limits)
    if waited_s >= throttle.delay_s(count, limits) or waited_s >= limits.forget_after_s:
        assert wait is None
    else:
        assert wait is not None and 1 <= wait <= limits.max_delay_s + 1


@given(limits=limits_st, gaps_s=st.lists(st.floats(0, 2000), max_size=80))
def test_a_record_counts_failures_until_it_is_forgotten(
    limits: throttle.Limits, gaps_s: list[float]
) -> None:
    state: throttle.Failures | None = None
    at = T0
    expected = 0
    for gap in gaps_s:
        at += timedelta(seconds=gap)
        forgotten = state is not None and gap >= limits.forget_after_s
        expected = 1 if forgotten or state is None else expected + 1
        state = throttle.after_failure(state, at, limits)
        assert state.count == expected and state.last_failed_at == at


@given(attempt_every_s=st.floats(0.01, 30), duration_s=st.floats(0, 86_400))
def test_a_guesser_at_one_address_gets_few_checked_attempts(
    attempt_every_s: float, duration_s: float
) -> None:
    """However fast it tries, once past the free failures and the ramp, it gets about
    one checked attempt per max delay."""
    limits = throttle.PAIR
    state: throttle.Failures | None = None
    checked = 0
    steps = int(duration_s / attempt_every_s)
    for step in range(min(steps, 20_000)):
        now = T0 + timedelta(seconds=step * attempt_every_s)
        if throttle.retry_after_s(state, now, limits) is None:
            checked += 1
            state = throttle.after_failure(state, now, limits)
    ramp = 10  # 1 s .. 256 s before the cap
    assert checked <= limits.free_failures + ramp + duration_s / limits.max_delay_s + 1


@given(raw=st.text(max_size=100))
def test_a_sign_in_leads_only_to_a_path_of_this_site(raw: str) -> None:
    target = safe_next_path(raw)
    assert target.startswith("/")
    assert not target.startswith(("//", "/\\"))
    assert target.isascii() and target.isprintable() and " " not in target


def test_forgotten_records_are_pruned_after_the_longest_window() -> None:
    longest = max(throttle.PAIR.forget_after_s, throttle.ACCOUNT.forget_after_s)
    assert throttle.forgotten_before(T0) == T0 - timedelta(seconds=longest)
