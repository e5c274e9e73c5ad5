"""The playback timing rules: examples, and properties of how they combine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from player.core import playback_timing as timing
from player.core.playback_timing import Deadline, Due, ItemTiming, Ramp, TimingSettings

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

seconds = st.floats(min_value=0.0, max_value=3600.0, allow_nan=False)
small_s = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
positive_s = st.floats(min_value=0.001, max_value=5.0, allow_nan=False)
lengths_ms = st.one_of(st.none(), st.integers(min_value=1, max_value=3_600_000))

timing_settings = st.builds(
    TimingSettings,
    prepare_lead_s=small_s,
    start_lead_s=st.floats(min_value=0.0, max_value=0.5, allow_nan=False),
    end_grace_s=small_s,
    crossfade_s=small_s,
    heartbeat_s=positive_s,
    audio_check_s=positive_s,
    min_interval_s=small_s,
)


@st.composite
def playing_items(draw: st.DrawFn) -> tuple[ItemTiming, float]:
    """A started item and a "now" at or after its start."""
    started = draw(seconds)
    end, capped = timing.projected_end(started, draw(lengths_ms), draw(lengths_ms), 10_000)
    item = ItemTiming(
        started_mono=started,
        end_mono=end,
        capped=capped,
        handed_over=draw(st.booleans()),
        output_ended=draw(st.booleans()),
        audio_check_mono=draw(
            st.one_of(st.none(), st.just(timing.audio_check_at(started, end, 1.5)))
        ),
    )
    return item, started + draw(st.floats(min_value=0.0, max_value=4000.0, allow_nan=False))


# -- examples ----------------------------------------------------------------------------


def test_the_projected_end_is_the_length_or_the_cap_whichever_first() -> None:
    assert timing.projected_end(100.0, 3_000, None, 10_000) == (103.0, False)
    assert timing.projected_end(100.0, 3_000, 2_000, 10_000) == (102.0, True)
    assert timing.projected_end(100.0, 3_000, 5_000, 10_000) == (103.0, False)
    assert timing.projected_end(100.0, None, None, 10_000) == (110.0, True)
    assert timing.projected_end(100.0, None, 4_000, 10_000) == (104.0, True)


def test_a_fresh_item_hands_over_prepare_lead_before_its_end() -> None:
    s = TimingSettings(prepare_lead_s=0.5, audio_check_s=1.5, heartbeat_s=10.0)
    item = ItemTiming(started_mono=0.0, end_mono=3.0, audio_check_mono=1.5)
    assert timing.next_deadline(0.0, item, s) == Deadline(1.5, Due.AUDIO_CHECK)
    item = ItemTiming(started_mono=0.0, end_mono=3.0)
    assert timing.next_deadline(0.0, item, s) == Deadline(2.5, Due.HAND_OVER)
    handed = ItemTiming(started_mono=0.0, end_mono=3.0, handed_over=True)
    assert timing.next_deadline(2.5, handed, s, next_ready=True) == Deadline(
        3.0 - s.start_lead_s, Due.START_NEXT
    )
    assert timing.next_deadline(2.5, handed, s) == Deadline(3.0 + s.end_grace_s, Due.FINISH)


def test_a_long_item_wakes_for_the_heartbeat_only() -> None:
    s = TimingSettings(heartbeat_s=10.0)
    item = ItemTiming(started_mono=0.0, end_mono=600.0)
    assert timing.next_deadline(5.0, item, s) == Deadline(15.0, Due.HEARTBEAT)


def test_when_several_are_due_the_audio_check_comes_first() -> None:
    s = TimingSettings()
    item = ItemTiming(started_mono=0.0, end_mono=1.0, audio_check_mono=0.6)
    assert timing.next_deadline(5.0, item, s) == Deadline(5.0, Due.AUDIO_CHECK)


def test_a_capped_or_reported_end_finishes_without_grace() -> None:
    s = TimingSettings(end_grace_s=2.0)
    plain = ItemTiming(started_mono=0.0, end_mono=3.0, handed_over=True)
    assert timing.finish_at(plain, s) == 5.0
    assert timing.finish_at(ItemTiming(0.0, 3.0, capped=True, handed_over=True), s) == 3.0
    assert timing.finish_at(ItemTiming(0.0, 3.0, output_ended=True, handed_over=True), s) == 3.0


def test_silence_lasts_until_the_boundary_at_most_the_cap() -> None:
    s = TimingSettings(silence_cap_s=30.0)
    assert timing.silence_wait_s(T0, None, s) == 30.0
    assert timing.silence_wait_s(T0, T0 + timedelta(seconds=4), s) == 4.0
    assert timing.silence_wait_s(T0, T0 + timedelta(hours=1), s) == 30.0
    assert timing.silence_wait_s(T0, T0 - timedelta(seconds=4), s) == 0.0


def test_back_offs_double_up_to_their_caps() -> None:
    assert [timing.failure_backoff_s(n) for n in (1, 2, 3, 9)] == [0.25, 0.5, 1.0, 30.0]
    assert [timing.no_audio_backoff_s(n) for n in (1, 2, 3, 9)] == [2.0, 4.0, 8.0, 60.0]


def test_a_crossfade_brings_the_next_in_and_the_current_out_then_stops_it() -> None:
    ramps, tail_end = timing.crossfade(1, 2, 10.0, 0.4, cur_capped=False, cur_end_mono=10.42)
    fade_in, fade_out = ramps
    assert (fade_in.token, fade_in.stop_at_end, fade_out.token, fade_out.stop_at_end) == (
        2,
        False,
        1,
        True,
    )
    assert fade_in.gain_at(10.2) == pytest.approx(0.5)
    assert fade_out.gain_at(10.2) == pytest.approx(0.5)
    assert tail_end == 10.4
    stops, tail_end = timing.crossfade(1, 2, 10.0, 0.0, cur_capped=True, cur_end_mono=10.02)
    assert [(r.token, r.start_mono, r.duration_s) for r in stops] == [(1, 10.02, 0.0)]
    assert timing.crossfade(1, 2, 10.0, 0.0, cur_capped=False, cur_end_mono=10.02) == ([], 10.02)


def test_a_ramp_follows_its_curve() -> None:
    eased = Ramp(1, 0.0, 1.0, 0.0, 1.0, False, curve=lambda share: share * share)
    assert eased.gain_at(0.5) == 0.25
    assert eased.gain_at(-1.0) is None
    assert eased.gain_at(2.0) == 1.0


# -- properties --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(playing_items(), timing_settings, st.booleans(), small_s)
def test_the_next_deadline_is_never_in_the_past(
    played: tuple[ItemTiming, float], s: TimingSettings, ready: bool, fade: float
) -> None:
    item, now = played
    deadline = timing.next_deadline(now, item, s, next_ready=ready, fade=fade)
    assert deadline.at_mono >= now
    assert deadline.at_mono <= now + s.heartbeat_s  # the watchdog is always fed


@settings(max_examples=300, deadline=None)
@given(playing_items(), timing_settings, st.booleans(), small_s)
def test_nothing_is_due_early(
    played: tuple[ItemTiming, float], s: TimingSettings, ready: bool, fade: float
) -> None:
    item, now = played
    deadline = timing.next_deadline(now, item, s, next_ready=ready, fade=fade)
    when = {
        Due.AUDIO_CHECK: item.audio_check_mono,
        Due.HAND_OVER: None if item.end_mono is None else timing.hand_over_at(item, s),
        Due.START_NEXT: None if item.end_mono is None else timing.start_next_at(item, fade, s),
        Due.FINISH: None if item.end_mono is None else timing.finish_at(item, s),
    }
    if deadline.due != Due.HEARTBEAT:
        rule_at = when[deadline.due]
        assert rule_at is not None
        assert deadline.at_mono == max(now, rule_at)


@settings(max_examples=300, deadline=None)
@given(seconds, lengths_ms, lengths_ms, timing_settings)
def test_hand_over_precedes_the_projected_end_by_prepare_lead_and_the_finish(
    started: float, length_ms: int | None, cap_ms: int | None, s: TimingSettings
) -> None:
    end, capped = timing.projected_end(started, length_ms, cap_ms, 10_000)
    assert end > started
    item = ItemTiming(started_mono=started, end_mono=end, capped=capped)
    assert end - timing.hand_over_at(item, s) == pytest.approx(s.prepare_lead_s)
    assert timing.hand_over_at(item, s) <= timing.finish_at(item, s)
    first = timing.next_deadline(started, item, s)
    if first.due == Due.HAND_OVER:
        assert first.at_mono == max(started, end - s.prepare_lead_s)
    # with the next item ready, it starts before the current one is finished
    handed = ItemTiming(started_mono=started, end_mono=end, capped=capped, handed_over=True)
    assert timing.start_next_at(handed, s.crossfade_s, s) <= timing.finish_at(handed, s)


@settings(max_examples=300, deadline=None)
@given(seconds, lengths_ms, lengths_ms, positive_s)
def test_the_audio_check_falls_inside_the_item(
    started: float, length_ms: int | None, cap_ms: int | None, check_s: float
) -> None:
    end, _ = timing.projected_end(started, length_ms, cap_ms, 10_000)
    check = timing.audio_check_at(started, end, check_s)
    assert started < check <= end
    assert check <= started + check_s


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), seconds), seconds, small_s)
def test_items_start_no_faster_than_the_minimum_interval(
    last: float | None, elapsed: float, min_interval_s: float
) -> None:
    now = elapsed if last is None else last + elapsed
    at = timing.next_attempt_at(last, now, min_interval_s)
    assert at >= now
    if last is not None:
        assert at - last >= min_interval_s - 1e-9
        assert at == now or at == last + min_interval_s


@settings(max_examples=200, deadline=None)
@given(seconds, positive_s, small_s)
def test_an_item_shorter_than_the_minimum_interval_gets_no_hand_over(
    started: float, length_s: float, min_interval_s: float
) -> None:
    s = TimingSettings(min_interval_s=min_interval_s)
    item = ItemTiming(started_mono=started, end_mono=started + length_s)
    played_s = (started + length_s) - started  # as the loop sees it, on monotonic time
    assert timing.may_hand_over(item, s) is (played_s >= min_interval_s)


ramps = st.builds(
    Ramp,
    token=st.integers(1, 3),
    start_mono=seconds,
    duration_s=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
    from_gain=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    to_gain=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    stop_at_end=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    ramps,
    st.floats(min_value=-10.0, max_value=20.0, allow_nan=False),
    st.floats(min_value=0.0, max_value=20.0, allow_nan=False),
)
def test_a_ramp_moves_monotonically_between_its_gains(ramp: Ramp, t: float, dt: float) -> None:
    low, high = sorted((ramp.from_gain, ramp.to_gain))
    now = ramp.start_mono + t
    gain, later = ramp.gain_at(now), ramp.gain_at(now + dt)
    if gain is not None:
        assert low - 1e-9 <= gain <= high + 1e-9
        assert later is not None
        if ramp.to_gain >= ramp.from_gain:
            assert later >= gain - 1e-9
        else:
            assert later <= gain + 1e-9
    if ramp.done(now) and gain is not None:
        assert gain == pytest.approx(ramp.to_gain)


@settings(max_examples=300, deadline=None)
@given(
    seconds, seconds, timing_settings, st.lists(ramps, max_size=3), st.lists(seconds, max_size=3)
)
def test_a_wait_is_never_negative_nor_longer_than_a_heartbeat(
    now: float, deadline: float, s: TimingSettings, active: list[Ramp], tails: list[float]
) -> None:
    timeout_s = timing.wait_timeout_s(now, deadline, s, active, tails)
    assert 0.0 <= timeout_s <= s.heartbeat_s
    assert timeout_s <= max(0.0, deadline - now)
    if any(r.start_mono <= now and r.duration_s > 0 for r in active):
        assert timeout_s <= s.ramp_step_s  # a running fade is stepped, not jumped
