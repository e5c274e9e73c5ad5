"""The built-in jingle is shipped, small, well-formed and reproducible."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

from player.runtime.playback import default_jingle_path

ROOT = Path(__file__).resolve().parents[3]


def test_jingle_is_a_short_small_mono_wav() -> None:
    path = default_jingle_path()
    assert path.stat().st_size < 300_000
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 44_100)
        seconds = w.getnframes() / w.getframerate()
        frames = w.readframes(w.getnframes())
    assert 2.0 <= seconds <= 4.0
    assert max(frames) > 0  # not silence


def test_make_jingle_regenerates_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "jingle.wav"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_jingle.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert out.read_bytes() == default_jingle_path().read_bytes()
