"""Implausible server times are refused, a poisoned lower bound is lowered, nothing overflows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from player.adapters.clock import SystemClock
from player.core import clock as rules
from tests.fakes.clock import FakeClock

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BOOT_1970 = datetime(1970, 1, 1, 0, 1, tzinfo=UTC)


def sync(clock: SystemClock, fake: FakeClock, server_now: datetime) -> None:
    """What the syncer does with a ``Date`` (1 s resolution) timed around a 0.1 s request."""
    fake.advance(0.1)
    server = rules.ServerTime(
        server_now.replace(microsecond=0), fake.monotonic() - 0.1, fake.monotonic()
    )
    clock.observe_server_time(server)


@pytest.mark.parametrize(
    "server",
    [
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2024, 12, 31, tzinfo=UTC),
    ],
)
def test_implausible_dates_are_ignored_even_when_repeated(server: datetime) -> None:
    fake = FakeClock(NOW)
    clock = SystemClock(None, None, wall=fake.wall, mono=fake.monotonic)
    for _ in range(5):
        sync(clock, fake, server)
    assert abs((clock.now() - fake.wall()).total_seconds()) < 1
    assert clock.status().offset_age_s is None


def test_a_box_booting_in_1970_accepts_its_first_plausible_date() -> None:
    fake = FakeClock(BOOT_1970)
    clock = SystemClock(None, None, wall=fake.wall, mono=fake.monotonic)
    sync(clock, fake, NOW)
    assert abs((clock.now() - NOW).total_seconds()) < 2
    assert clock.status().trusted


def test_a_jump_of_more_than_a_year_needs_three_agreeing_dates() -> None:
    fake = FakeClock(NOW)
    persisted: list[datetime] = []
    clock = SystemClock(None, persisted.append, wall=fake.wall, mono=fake.monotonic)
    ahead = NOW + timedelta(days=800)
    sync(clock, fake, ahead)
    sync(clock, fake, ahead + timedelta(seconds=0.1))
    assert clock.now() < NOW + timedelta(days=1), "an unconfirmed jump was adopted"
    sync(clock, fake, ahead + timedelta(seconds=0.2))
    assert clock.now() > NOW + timedelta(days=799), "a confirmed jump was refused"


def test_a_poisoned_bound_is_lowered_after_three_agreeing_dates() -> None:
    fake = FakeClock(NOW)
    persisted: list[datetime] = []
    poisoned = datetime(2040, 1, 1, tzinfo=UTC)  # plausible, so kept at start
    clock = SystemClock(
        poisoned, persisted.append, persist_every_s=3600, wall=fake.wall, mono=fake.monotonic
    )
    assert clock.now() == poisoned
    sync(clock, fake, fake.wall())
    sync(clock, fake, fake.wall())
    assert clock.now() == poisoned  # two Dates are not enough to go back
    sync(clock, fake, fake.wall())
    now = clock.now()
    assert abs((now - fake.wall()).total_seconds()) < 2
    assert persisted and persisted[-1] < poisoned + timedelta(0)
    assert abs((persisted[-1] - fake.wall()).total_seconds()) < 2
    fake.advance(5)
    assert clock.now() > now  # and forward again from there


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_an_implausible_persisted_bound_is_dropped_at_start(stored: datetime) -> None:
    fake = FakeClock(NOW)
    clock = SystemClock(stored, None, wall=fake.wall, mono=fake.monotonic)
    assert abs((clock.now() - NOW).total_seconds()) < 1
    assert clock.status().lower_bound is not None
    assert clock.status().lower_bound < datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[operator]


def test_the_bound_is_never_raised_to_an_implausible_time() -> None:
    state = rules.raise_lower_bound(rules.ClockState(), datetime(2099, 1, 1, tzinfo=UTC))
    assert state.lower_bound is None


@settings(max_examples=200, deadline=None, database=None)
@given(
    wall=st.datetimes(timezones=st.just(UTC)),
    offset_s=st.floats(allow_nan=True, allow_infinity=True),
    bound=st.none() | st.datetimes(timezones=st.just(UTC)),
    server=st.datetimes(timezones=st.just(UTC)),
    rtt_s=st.floats(0, 1e12),
)
def test_no_reading_overflows(
    wall: datetime, offset_s: float, bound: datetime | None, server: datetime, rtt_s: float
) -> None:
    state = rules.ClockState(
        lower_bound=rules.plausible_bound(bound), offset_s=offset_s, offset_measured_mono=0.0
    )
    rules.corrected_now(state, wall)
    rules.status(state, wall, 1.0)
    verdict = rules.observe_server_time(state, server, 0.0, rtt_s, wall)
    rules.corrected_now(verdict.state, wall)
    rules.raise_lower_bound(verdict.state, wall)
    rules.observe(verdict.state, wall, 1.0)
