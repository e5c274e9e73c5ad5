"""NullOutput keeps real time without making a sound."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import pytest

from player.adapters.null_output import NullOutput
from player.errors import PlaybackError
from player.ports import MediaEnded, MediaStarted


def test_wav_ends_after_its_length_in_real_time(tones: dict[str, Path]) -> None:
    out = NullOutput()
    events: queue.Queue[object] = queue.Queue()
    out.attach(events)
    token = out.prepare(tones["a"])
    assert out.length_ms(token) == 300
    t0 = time.monotonic()
    out.start(token)
    assert events.get(timeout=1) == MediaStarted(token)
    time.sleep(0.1)
    position = out.position_ms(token)
    assert position is not None
    assert 80 <= position <= 300
    assert events.get(timeout=2) == MediaEnded(token)
    assert 0.28 <= time.monotonic() - t0 < 0.8
    out.close()


def test_unknown_length_uses_the_fallback_duration(tmp_path: Path) -> None:
    poster = tmp_path / "poster.png"
    poster.write_bytes(b"\x89PNG not really")
    out = NullOutput(fallback_duration_ms=200)
    events: queue.Queue[object] = queue.Queue()
    out.attach(events)
    token = out.prepare(poster)
    assert out.length_ms(token) is None
    t0 = time.monotonic()
    out.start(token)
    assert events.get(timeout=1) == MediaStarted(token)
    assert events.get(timeout=2) == MediaEnded(token)
    assert 0.18 <= time.monotonic() - t0 < 0.7
    out.close()


def test_stop_cancels_the_end(tones: dict[str, Path]) -> None:
    out = NullOutput()
    events: queue.Queue[object] = queue.Queue()
    out.attach(events)
    token = out.prepare(tones["a"])
    out.start(token)
    assert events.get(timeout=1) == MediaStarted(token)
    out.stop(token)
    with pytest.raises(queue.Empty):
        events.get(timeout=0.5)
    assert out.position_ms(token) is None
    out.close()


def test_missing_file_is_a_playback_error(tmp_path: Path) -> None:
    with pytest.raises(PlaybackError, match=r"cannot open missing\.wav"):
        NullOutput().prepare(tmp_path / "missing.wav")
