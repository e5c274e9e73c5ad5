"""PlaybackLoop with a fake decision source and a recording output, on the fake clock.

The loop waits on ``clock.inbox()`` and the output ends items with
``clock.call_later``: ``clock.run_for(s)`` lets ``s`` of fake time pass, stopping at
every instant the loop asked to wake at, so the assertions are exact and no
test depends on how busy the machine is.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from lomuz_rules.model import Decision, MediaType, Tier
from player.core.model import Outcome
from player.runtime.playback import JINGLE_ASSET_ID, PlaybackLoop, default_jingle_path
from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import (
    BASE_AT,
    FakeOutput,
    FakeSource,
    decision,
    fake_media_path,
)

Make = Callable[..., tuple[PlaybackLoop, FakeSource, FakeOutput]]


def cycle(*names: str, **kwargs: object) -> Callable[[int, datetime], Decision]:
    return lambda n, at: decision(names[n % len(names)], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    """Fake time only: it moves when a test runs it (overrides the real-time one)."""
    return FakeClock(BASE_AT)


@pytest.fixture
def make(clock: FakeClock) -> Iterator[Make]:
    loops: list[PlaybackLoop] = []

    def build(
        script: Callable[[int, datetime], Decision],
        output: FakeOutput,
        **kwargs: object,
    ) -> tuple[PlaybackLoop, FakeSource, FakeOutput]:
        source = FakeSource(script, now=clock.now, mono=clock.monotonic)
        output.clock = clock
        kwargs.setdefault("min_item_interval_s", 0.0)  # sub-second items, no throttle here
        loop = PlaybackLoop(
            source,
            clock,
            output,
            fake_media_path,
            inbox=clock.inbox(),
            **kwargs,  # type: ignore[arg-type]
        )
        loops.append(loop)
        loop.start()
        clock.settle()
        return loop, source, output

    yield build
    for loop in loops:
        loop.stop()
        assert loop.now_playing().state == "stopped"


def starts(out: FakeOutput) -> list[tuple[float, object]]:
    return [(t, arg) for t, name, arg in out.commands if name == "start"]


def test_plays_are_recorded_in_decision_order_with_real_times(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"a.wav": 150, "b.wav": 150, "c.wav": 150})
    _, source, _ = make(cycle("a", "b", "c"), out)
    clock.run_for(4 * 0.150 + 0.01)
    plays = source.plays
    assert [p.asset_id for p in plays[:4]] == ["a", "b", "c", "a"]
    assert {p.outcome for p in plays} == {Outcome.COMPLETED}
    assert all(p.source == Tier.PLAYLIST and p.schedule_id == "s1" for p in plays)
    assert all(p.playlist_id == "p1" and p.sha256 == f"sha-{p.asset_id}" for p in plays)
    assert len({p.id for p in plays}) == len(plays)
    for play in plays[:4]:
        # each ends at its projected end: the output reported it there
        assert play.ended_at - play.started_at == timedelta(milliseconds=150)
    for earlier, later in itertools.pairwise(plays):
        assert earlier.started_at < later.started_at


def test_item_is_capped_by_play_duration(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"long.wav": 60_000, "b.wav": 100})
    script = lambda n, at: decision("long", play_duration_ms=250) if n == 0 else decision("b")  # noqa: E731
    _, source, out = make(script, out)
    clock.run_for(0.249)
    assert source.plays == []
    clock.run_for(0.002)
    assert source.plays[0].asset_id == "long"
    assert source.plays[0].outcome == Outcome.COMPLETED
    assert source.plays[0].ended_at - source.plays[0].started_at == timedelta(milliseconds=250)
    assert "long.wav" in out.names("stop")


def test_item_without_length_plays_its_play_duration(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"poster.png": None, "b.wav": 100})
    script = lambda n, at: (  # noqa: E731
        decision("poster", media_type=MediaType.IMAGE, play_duration_ms=300)
        if n == 0
        else decision("b")
    )
    _, source, _ = make(script, out)
    clock.run_for(0.31)
    assert source.plays[0].asset_id == "poster"
    assert source.plays[0].ended_at - source.plays[0].started_at == timedelta(milliseconds=300)


def test_failing_file_is_quarantined_and_the_loop_moves_on_within_a_second(
    make: Make, clock: FakeClock
) -> None:
    out = FakeOutput(
        lengths={"a.wav": 100, "bad.wav": 100, "c.wav": 100}, fail_on_start={"bad.wav"}
    )
    _, source, _ = make(cycle("bad", "c"), out, quarantine_s=600)
    clock.run_for(0.5)
    plays = source.plays
    assert [(p.asset_id, p.outcome) for p in plays[:2]] == [
        ("bad", Outcome.ERROR),
        ("c", Outcome.COMPLETED),
    ]
    assert len(source.quarantined) == 1
    q = source.quarantined[0]
    assert q.sha256 == "sha-bad"
    assert q.reason == "fake failure"
    assert q.until == BASE_AT + timedelta(seconds=600)
    next_start = next(t for t, arg in starts(out) if arg == "c.wav")
    assert next_start - q.at_mono == 0.25  # the first failure's back-off, not more


def test_unopenable_file_is_quarantined_and_the_loop_moves_on(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"gone.wav": 100, "c.wav": 100}, unopenable={"gone.wav"})
    _, source, _ = make(cycle("gone", "c"), out)
    clock.run_for(0.5)
    assert [(p.asset_id, p.outcome) for p in source.plays[:2]] == [
        ("gone", Outcome.ERROR),
        ("c", Outcome.COMPLETED),
    ]
    assert [q.sha256 for q in source.quarantined] == ["sha-gone"]
    assert "cannot open" in source.quarantined[0].reason


def test_skip_records_skipped_with_real_end_and_plays_the_next(
    make: Make, clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"long.wav": 30_000, "b.wav": 100})
    loop, source, _ = make(cycle("long", "b"), out)
    clock.run_for(0.3)
    loop.request_skip()
    clock.settle()
    assert [(p.asset_id, p.outcome) for p in source.plays] == [("long", Outcome.SKIPPED)]
    assert source.plays[0].ended_at - source.plays[0].started_at == timedelta(seconds=0.3)
    assert out.names("start") == ["long.wav", "b.wav"]
    assert "long.wav" in out.names("stop")


def test_stop_mid_item_records_skipped_and_stops_the_output(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"long.wav": 30_000})
    loop, source, _ = make(cycle("long"), out)
    clock.run_for(0.3)
    t0 = time.monotonic()
    loop.stop()
    assert time.monotonic() - t0 < 1.0
    assert [(p.asset_id, p.outcome) for p in source.plays] == [("long", Outcome.SKIPPED)]
    assert source.plays[0].ended_at - source.plays[0].started_at == timedelta(seconds=0.3)
    assert out.names("stop") == ["long.wav"]
    assert loop.now_playing().state == "stopped"


def test_silence_sleeps_until_the_boundary_without_polling(make: Make, clock: FakeClock) -> None:
    boundary = clock.now() + timedelta(milliseconds=600)
    script = lambda n, at: (  # noqa: E731
        decision(None, tier=Tier.SILENCE, next_boundary_at=boundary)
        if at < boundary
        else decision("b")
    )
    loop, source, out = make(script, FakeOutput(lengths={"b.wav": 5_000}))
    clock.run_for(0.599)
    assert loop.now_playing().state == "silence"
    assert len(source.decide_calls) == 1  # slept, did not poll
    assert out.names("start") == []
    clock.run_for(0.001)
    assert out.names("start") == ["b.wav"]
    assert source.decide_calls == [BASE_AT, boundary]  # woken at the boundary, not later
    assert loop.now_playing().state == "playing"


def test_reevaluate_wakes_silence_at_once(make: Make, clock: FakeClock) -> None:
    state = {"synced": False}
    script = lambda n, at: (  # noqa: E731
        decision("b") if state["synced"] else decision(None, tier=Tier.SILENCE)
    )
    loop, source, out = make(script, FakeOutput(lengths={"b.wav": 5_000}))
    clock.run_for(0.2)
    assert len(source.decide_calls) == 1
    state["synced"] = True
    loop.request_reevaluate()
    clock.settle()  # no time passes: the re-evaluation alone wakes it
    assert out.names("start") == ["b.wav"]
    assert source.decide_calls[1] == BASE_AT + timedelta(seconds=0.2)


def test_playing_a_long_item_sleeps_instead_of_polling(make: Make, clock: FakeClock) -> None:
    beats: list[float] = []
    out = FakeOutput(lengths={"long.wav": 30_000})
    _loop, source, _ = make(
        cycle("long"),
        out,
        heartbeat=lambda: beats.append(clock.monotonic()),
        heartbeat_interval_s=0.25,
        audio_check_s=5.0,
    )
    start = clock.monotonic()
    clock.run_for(1.3)
    assert len(source.decide_calls) == 1
    assert len(out.commands) <= 3  # prepare, start, gain on MediaStarted
    # woken only by the heartbeat interval: at the start, then every 0.25 s
    assert [round(b - start, 3) for b in beats] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]


def test_jingle_tier_plays_the_packaged_jingle(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"jingle.wav": 100})
    _, source, out = make(lambda n, at: decision(None, tier=Tier.JINGLE), out)
    clock.run_for(0.25)
    plays = source.plays
    jingle = default_jingle_path()
    assert out.names("prepare")[0] == "jingle.wav"
    assert plays[0].asset_id == JINGLE_ASSET_ID
    assert plays[0].source == Tier.JINGLE
    assert plays[0].sha256 == hashlib.sha256(jingle.read_bytes()).hexdigest()
    assert plays[0].schedule_id is None


def test_gapless_hand_over_starts_next_before_current_ends(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"a.wav": 1_000, "b.wav": 1_000})
    start = clock.monotonic()
    _, source, out = make(cycle("a", "b"), out, prepare_lead_ms=300, start_lead_ms=50)
    clock.run_for(1.1)
    times: dict[tuple[str, object], float] = {}
    for t, name, arg in out.commands:
        times.setdefault((name, arg), t - start)  # first occurrences: the first A and B
    assert times[("prepare", "b.wav")] == pytest.approx(0.7)  # prepare_lead before A's end
    assert times[("start", "b.wav")] == pytest.approx(0.95)  # start_lead before A's end
    assert times[("ended", "a.wav")] == pytest.approx(1.0)
    # A was marked started before B was decided (rotation knows A played);
    # A's play is recorded only after B started, at A's real end
    assert source.log[:5] == ["decide", "start:a", "decide", "start:b", "record:a"]
    assert source.plays[0].ended_at - source.plays[0].started_at == timedelta(seconds=1)


def test_single_player_output_starts_next_only_after_the_end(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"a.wav": 700, "b.wav": 700}, overlap=False)
    _, source, out = make(cycle("a", "b"), out, prepare_lead_ms=300)
    clock.run_for(1.0)
    times = {(name, arg): t for t, name, arg in out.commands}
    assert times[("start", "b.wav")] == times[("ended", "a.wav")]
    assert times[("prepare", "b.wav")] < times[("ended", "a.wav")]  # prepared in advance
    assert out.supports_overlap is False
    assert [(p.asset_id, p.ended_at - p.started_at) for p in source.plays] == [
        ("a", timedelta(milliseconds=700))
    ]


def test_crossfade_ramps_both_items(make: Make, clock: FakeClock) -> None:
    out = FakeOutput(lengths={"a.wav": 1_200, "b.wav": 1_200})
    start = clock.monotonic()
    _, source, out = make(cycle("a", "b"), out, crossfade_ms=400, prepare_lead_ms=600)
    clock.run_for(1.3)
    first_fade = out.commands
    gains = [arg for _, name, arg in first_fade if name == "gain" and isinstance(arg, tuple)]
    b_gains = [g for name, g in gains if name == "b.wav"]
    a_gains = [g for name, g in gains if name == "a.wav"]
    assert b_gains[0] == 0.0
    assert b_gains[-1] == 1.0
    assert b_gains == sorted(b_gains)
    assert any(0.0 < g < 1.0 for g in b_gains)
    assert a_gains[-1] == 0.0
    assert a_gains == sorted(a_gains, reverse=True)
    # B starts start_lead + crossfade before A's end; the fade steps every 50 ms
    assert next(t for t, arg in starts(out) if arg == "b.wav") - start == pytest.approx(0.78)
    assert "a.wav" in out.names("stop")
    assert [p.asset_id for p in source.plays] == ["a"]


def test_an_iteration_that_raises_is_logged_once_and_playback_continues(
    make: Make, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def script(n: int, at: datetime) -> Decision:
        if n < 3:
            raise RuntimeError("database is locked")
        return decision("b")

    with caplog.at_level(logging.INFO, logger="player.runtime.playback"):
        _, source, out = make(script, FakeOutput(lengths={"b.wav": 100}))
        start = clock.monotonic()
        clock.run_for(2.0)
    assert source.plays[0].asset_id == "b"
    # backed off 0.25 s, 0.5 s, 1 s between the failures
    assert starts(out)[0][0] - start == pytest.approx(1.75)
    failures = [r for r in caplog.records if r.getMessage() == "playback iteration failed"]
    assert len(failures) == 1
    assert any(r.getMessage() == "playback recovered" for r in caplog.records)


def test_now_playing_snapshot(make: Make, clock: FakeClock) -> None:
    loop, _, _ = make(cycle("long"), FakeOutput(lengths={"long.wav": 30_000}))
    clock.run_for(0.2)
    snap = loop.now_playing()
    assert (snap.state, snap.tier, snap.asset_id) == ("playing", Tier.PLAYLIST, "long")
    assert snap.sha256 == "sha-long"
    assert snap.started_at == BASE_AT
    assert snap.supports_overlap is True


def test_restart_records_the_item_skipped_stops_the_output_and_decides_afresh(
    make: Make, clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"long.wav": 30_000})
    loop, source, _ = make(cycle("long"), out)
    clock.run_for(0.4)
    decided = len(source.decide_calls)
    loop.request_restart()
    clock.settle()
    assert [(p.asset_id, p.outcome) for p in source.plays] == [("long", Outcome.SKIPPED)]
    assert out.names("stop") == ["long.wav"]
    assert out.names("start") == ["long.wav", "long.wav"]  # decided again, started again
    assert len(source.decide_calls) == decided + 1
    assert loop.now_playing().state == "playing"


def test_a_call_runs_on_the_playback_thread_after_what_was_queued_before_it(
    make: Make, clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"long.wav": 30_000, "b.wav": 30_000})
    loop, source, _ = make(cycle("long", "b"), out)
    clock.run_for(0.3)
    seen: list[tuple[str, int]] = []
    loop.request_skip()
    call = loop.call(lambda: seen.append((threading.current_thread().name, len(source.plays))))
    failing = loop.call(lambda: out.set_volume(1 // 0))
    clock.settle()
    assert call.wait(1.0) and failing.wait(1.0)
    assert seen == [("playback", 1)]  # the skip was handled first
    assert isinstance(failing.error, ZeroDivisionError)
    clock.run_for(0.1)
    assert loop.now_playing().state == "playing"  # a failing call is the caller's problem
