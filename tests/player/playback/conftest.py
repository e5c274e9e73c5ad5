"""Fixtures for the playback tests: libvlc gating, generated tones, fakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import BASE_AT, write_tone


def _libvlc_problem() -> str | None:
    try:
        import vlc

        instance = vlc.Instance(["--aout=dummy", "--vout=dummy", "--quiet"])
    except (ImportError, OSError, NameError, AttributeError) as exc:
        return f"libvlc cannot be loaded: {exc}"
    if instance is None:
        return "libvlc loaded but refused to create an instance"
    instance.release()
    return None


@pytest.fixture(autouse=True)
def _require_vlc(request: pytest.FixtureRequest) -> None:
    """Skip ``@pytest.mark.vlc`` tests without libvlc; fail instead with LOMUZ_REQUIRE_VLC=1."""
    if request.node.get_closest_marker("vlc") is None:
        return
    problem = _libvlc_problem()
    if problem is None:
        return
    if os.environ.get("LOMUZ_REQUIRE_VLC") == "1":
        pytest.fail(f"LOMUZ_REQUIRE_VLC=1 but {problem}")
    pytest.skip(f"{problem} (install libvlc5 and vlc-plugin-base)")


@pytest.fixture
def clock() -> FakeClock:
    """Follows real time: for loops on real timers (libvlc, NullOutput, the daemon)."""
    return FakeClock(BASE_AT, real_time=True)


@pytest.fixture
def fake_clock() -> FakeClock:
    """Moves only when the test runs it (``run_for``): for loops on ``clock.inbox()``."""
    return FakeClock(BASE_AT)


@pytest.fixture
def tones(tmp_path: Path) -> dict[str, Path]:
    """Short generated WAV tones plus a corrupt file, by name."""
    media = tmp_path / "media"
    media.mkdir()
    files = {
        "a": write_tone(media / "a.wav", 440.0, 300),
        "b": write_tone(media / "b.wav", 550.0, 300),
        "c": write_tone(media / "c.wav", 660.0, 300),
    }
    corrupt = media / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 20)
    files["corrupt"] = corrupt
    return files
