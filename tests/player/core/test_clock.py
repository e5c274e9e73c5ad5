"""Clock-trust rules and the SystemClock built on them (driven by a FakeClock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from player.adapters.clock import SystemClock
from player.adapters.http_api import parse_http_date
from player.core import clock as rules
from tests.fakes.clock import FakeClock

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_corrected_now_is_wall_plus_offset_but_never_below_the_bound() -> None:
    state = rules.ClockState(offset_s=30.0)
    assert rules.corrected_now(state, NOW) == NOW + timedelta(seconds=30)
    bounded = rules.ClockState(lower_bound=NOW + timedelta(hours=1), offset_s=30.0)
    assert rules.corrected_now(bounded, NOW) == NOW + timedelta(hours=1)


def test_lower_bound_only_moves_forward() -> None:
    state = rules.raise_lower_bound(rules.ClockState(), NOW)
    assert rules.raise_lower_bound(state, NOW - timedelta(days=1)).lower_bound == NOW
    assert rules.raise_lower_bound(state, NOW + timedelta(seconds=1)).lower_bound == (
        NOW + timedelta(seconds=1)
    )


def test_offset_uses_the_request_midpoint() -> None:
    # Request took 2 s; our wall clock read NOW on receipt, so at the midpoint
    # it read NOW - 1 s. The server said NOW + 100 s (truncated to the second).
    offset = rules.offset_from_date(
        NOW + timedelta(seconds=100), sent_mono_s=10.0, received_mono_s=12.0, received_wall=NOW
    )
    assert offset == pytest.approx(101.5)
    with pytest.raises(ValueError, match="swapped"):
        rules.offset_from_date(NOW, 12.0, 10.0, NOW)


def test_step_detection_threshold_and_offset_follow_the_step() -> None:
    state, step = rules.observe(rules.ClockState(), NOW, 100.0)
    assert step is None
    state, step = rules.observe(state, NOW + timedelta(seconds=11), 110.0)
    assert step is None  # 1 s of slew: not a step
    state = rules.apply_offset(
        state, NOW + timedelta(seconds=300), 109.0, 110.0, NOW + timedelta(seconds=11)
    )
    before = rules.corrected_now(state, NOW + timedelta(seconds=11))
    stepped_wall = NOW + timedelta(seconds=11 + 3600)
    state, step = rules.observe(state, stepped_wall, 110.0)
    assert step == pytest.approx(3600)
    assert state.steps == 1
    # The offset was measured against the old wall clock: corrected time is unchanged.
    assert rules.corrected_now(state, stepped_wall) == before


def test_trust_and_plausibility() -> None:
    fresh = rules.status(rules.ClockState(), NOW, 10.0)
    assert fresh.trusted
    assert fresh.plausible
    boot_1970 = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)
    early = rules.status(rules.ClockState(), boot_1970, 10.0)
    assert not early.trusted
    assert not early.plausible
    stepped = rules.status(rules.ClockState(steps=1, last_step_s=5.0), NOW, 10.0)
    assert not stepped.trusted
    assert stepped.plausible
    with_api = rules.ClockState(offset_s=1e9, offset_measured_mono=10.0)
    assert rules.status(with_api, boot_1970, 20.0).trusted
    assert not rules.status(with_api, boot_1970, 10.0 + rules.OFFSET_FRESH_S + 1).trusted


def test_system_clock_never_goes_back_and_persists_the_bound(fake_clock: FakeClock) -> None:
    persisted: list[datetime] = []
    clock = SystemClock(
        None, persisted.append, persist_every_s=60, wall=fake_clock.wall, mono=fake_clock.monotonic
    )
    first = clock.now()
    assert first == fake_clock.wall()
    assert persisted == []  # now() does no I/O: maintain() persists
    clock.maintain()
    assert persisted == [first]
    fake_clock.advance(10)
    clock.now()
    clock.maintain()
    assert len(persisted) == 1  # rate-limited
    fake_clock.advance(60)
    later = clock.now()
    clock.maintain()
    assert persisted[-1] == later
    steps: list[float] = []
    clock.on_step(steps.append)
    fake_clock.step(-3600)
    assert clock.now() >= later
    assert steps == []  # now() fires no callbacks: maintain() notifies
    clock.maintain()
    assert steps == [pytest.approx(-3600)]
    clock.maintain()
    assert steps == [pytest.approx(-3600)]  # once
    clock.flush()
    assert persisted[-1] == later


def test_system_clock_starts_from_the_persisted_bound() -> None:
    fake = FakeClock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC))
    clock = SystemClock(NOW, None, wall=fake.wall, mono=fake.monotonic)
    assert clock.now() == NOW
    assert not clock.status().plausible


def test_system_clock_adopts_the_api_date() -> None:
    fake = FakeClock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC), mono_s=50.0)
    clock = SystemClock(None, None, wall=fake.wall, mono=fake.monotonic)
    server = parse_http_date("Mon, 02 Mar 2026 12:00:00 GMT")
    assert server == NOW
    clock.observe_server_time(rules.ServerTime(server, sent_mono_s=49.0, received_mono_s=50.0))
    now = clock.now()
    assert abs((now - NOW).total_seconds() - 1.0) < 0.01  # +0.5 s midpoint, +0.5 s resolution
    assert clock.status().trusted
    assert parse_http_date("yesterday-ish") is None
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.ServerTime(NOW.replace(tzinfo=None), 1.0, 2.0)
    with pytest.raises(ValueError, match="swapped"):
        rules.ServerTime(NOW, 2.0, 1.0)
