"""A box whose output reaches no sound device never reports a play as heard (fake clock)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from player.core.model import Outcome
from player.runtime.playback import PlaybackLoop
from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import FakeOutput, FakeSource, decision, start_on_fake_clock


@pytest.fixture
def loops() -> Iterator[list[PlaybackLoop]]:
    started: list[PlaybackLoop] = []
    yield started
    for loop in started:
        loop.stop()


def _start(
    loops: list[PlaybackLoop], clock: FakeClock, out: FakeOutput, *, audio_check_s: float
) -> FakeSource:
    source = FakeSource(lambda n, at: decision("a"), now=clock.now, mono=clock.monotonic)
    loops.append(start_on_fake_clock(source, clock, out, audio_check_s=audio_check_s))
    return source


def test_no_audio_output_records_errors_not_completed_plays(
    loops: list[PlaybackLoop], fake_clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"a.wav": 300}, no_audio_output="no audio output: no card")
    source = _start(loops, fake_clock, out, audio_check_s=0.05)
    fake_clock.run_for(0.1)
    plays = source.plays
    assert [p.outcome for p in plays] == [Outcome.ERROR]
    # The device is at fault, not the file: nothing is quarantined.
    assert source.quarantined == []
    now = loops[0].now_playing()
    assert now.audio_output == "none"
    assert now.audio_problem == "no audio output: no card"
    assert now.state == "no_audio"
    # It was stopped at the check, long before its natural end.
    assert plays[0].ended_at - plays[0].started_at == timedelta(milliseconds=50)


def test_playback_retries_and_recovers_when_a_device_appears(
    loops: list[PlaybackLoop], fake_clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"a.wav": 150}, no_audio_output="no audio output: no card")
    source = _start(loops, fake_clock, out, audio_check_s=0.05)
    fake_clock.run_for(0.1)
    assert [p.outcome for p in source.plays] == [Outcome.ERROR]
    out.no_audio_output = None  # a USB sound card plugged in
    fake_clock.run_for(1.949)  # the 2 s back-off is not over
    assert len(source.plays) == 1
    fake_clock.run_for(0.2)
    assert [p.outcome for p in source.plays] == [Outcome.ERROR, Outcome.COMPLETED]
    assert loops[0].now_playing().audio_output == "ok"
    assert loops[0].now_playing().audio_problem is None


def test_the_output_is_asked_once_per_item(
    loops: list[PlaybackLoop], fake_clock: FakeClock
) -> None:
    out = FakeOutput(lengths={"a.wav": 200})
    source = _start(loops, fake_clock, out, audio_check_s=0.05)
    fake_clock.run_for(0.61)
    assert [p.outcome for p in source.plays] == [Outcome.COMPLETED] * 3
    assert len(out.names("audio_problem")) == len(out.names("start")) == 4
    assert loops[0].now_playing().audio_output == "ok"


def test_an_outage_is_logged_once_however_often_playback_retries(
    loops: list[PlaybackLoop], fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="player.runtime.playback")
    out = FakeOutput(lengths={"a.wav": 150}, no_audio_output="no audio output: no card")
    source = _start(loops, fake_clock, out, audio_check_s=0.05)
    fake_clock.run_for(6.2)  # three tries: 2 s and 4 s apart
    assert [p.outcome for p in source.plays] == [Outcome.ERROR] * 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no audio output: no card" in m for m in messages) == 1, messages
    assert sum("-> no audio output" in m for m in messages) == 1, messages
    assert len(messages) <= 3, messages
    out.no_audio_output = None
    fake_clock.run_for(8.1)  # the third back-off is 8 s
    assert loops[0].now_playing().audio_output == "ok"
    assert any("audio output is back" in r.getMessage() for r in caplog.records)
