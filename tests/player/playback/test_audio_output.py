"""A box whose output reaches no sound device never reports a play as heard."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from player.core.model import Outcome
from player.runtime.playback import PlaybackLoop
from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import FakeOutput, FakeSource, decision, fake_media_path


@pytest.fixture
def loops() -> Iterator[list[PlaybackLoop]]:
    started: list[PlaybackLoop] = []
    yield started
    for loop in started:
        loop.stop()


def _start(
    loops: list[PlaybackLoop], clock: FakeClock, out: FakeOutput, **kwargs: float
) -> FakeSource:
    source = FakeSource(lambda n, at: decision("a"))
    kwargs.setdefault("min_item_interval_s", 0.0)  # sub-second items, no throttle here
    loop = PlaybackLoop(
        source, clock, out, fake_media_path,
        **kwargs,  # type: ignore[arg-type]
    )
    loops.append(loop)
    loop.start()
    return source


def _wait(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), "condition not reached"  # type: ignore[operator]


def test_no_audio_output_records_errors_not_completed_plays(
    loops: list[PlaybackLoop], clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"a.wav": 300}, no_audio_output="no audio output: no card")
    source = _start(loops, clock, out, audio_check_s=0.05)
    plays = source.wait_plays(1)
    assert plays[0].outcome == Outcome.ERROR
    # The device is at fault, not the file: nothing is quarantined.
    assert source.quarantined == []
    now = loops[0].now_playing()
    assert now.audio_output == "none"
    assert now.audio_problem == "no audio output: no card"
    assert now.state == "no_audio"
    # It was stopped at the check, long before its natural end.
    assert (plays[0].ended_at - plays[0].started_at).total_seconds() < 0.25


def test_playback_retries_and_recovers_when_a_device_appears(
    loops: list[PlaybackLoop], clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"a.wav": 150}, no_audio_output="no audio output: no card")
    source = _start(loops, clock, out, audio_check_s=0.05)
    source.wait_plays(1)
    out.no_audio_output = None  # a USB sound card plugged in
    plays = source.wait_plays(3, timeout_s=10.0)
    assert plays[0].outcome == Outcome.ERROR
    assert plays[-1].outcome == Outcome.COMPLETED
    _wait(lambda: loops[0].now_playing().audio_output == "ok")
    assert loops[0].now_playing().audio_problem is None


def test_the_output_is_asked_once_per_item(loops: list[PlaybackLoop], clock: FakeClock) -> None:
    out = FakeOutput(lengths={"a.wav": 200})
    source = _start(loops, clock, out, audio_check_s=0.05)
    plays = source.wait_plays(3)
    assert {p.outcome for p in plays} == {Outcome.COMPLETED}
    asked = out.names("audio_problem")
    started = out.names("start")
    assert len(started) - 1 <= len(asked) <= len(started)
    assert loops[0].now_playing().audio_output == "ok"


def test_an_outage_is_logged_once_however_often_playback_retries(
    loops: list[PlaybackLoop], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="player.runtime.playback")
    out = FakeOutput(lengths={"a.wav": 150}, no_audio_output="no audio output: no card")
    source = _start(loops, clock, out, audio_check_s=0.05)
    source.wait_plays(3, timeout_s=20.0)  # three tries: 2 s and 4 s apart
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no audio output: no card" in m for m in messages) == 1, messages
    assert sum("-> no audio output" in m for m in messages) == 1, messages
    assert len(messages) <= 3, messages
    out.no_audio_output = None
    _wait(lambda: loops[0].now_playing().audio_output == "ok", timeout_s=20.0)
    assert any("audio output is back" in r.getMessage() for r in caplog.records)
