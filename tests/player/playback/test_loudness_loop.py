"""Issue 14: the loop hands every item to the output with its loudness gain, and says so."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime

import pytest

from lomuz_rules.model import Decision, Tier
from player.core.loudness import LoudnessSettings
from player.runtime.playback import PlaybackLoop, default_jingle_path
from player.runtime.playback_media import (
    BUILTIN_JINGLE_LOUDNESS_LUFS,
    BUILTIN_JINGLE_TRUE_PEAK_DBTP,
)
from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import BASE_AT, FakeOutput, FakeSource, decision, fake_media_path

SETTINGS = LoudnessSettings(jingle_offset_db=-2.0, emergency_offset_db=3.0)


def measured(
    asset_id: str | None, lufs: float | None, peak: float | None, **kw: object
) -> Decision:
    d = decision(asset_id, **kw)  # type: ignore[arg-type]
    return dataclasses.replace(d, loudness_lufs=lufs, true_peak_dbtp=peak)


SCRIPT = [
    measured("loud", -8.0, -0.5),  # cut 10 dB
    measured("quiet", -28.0, -20.0),  # raised 10 dB
    measured("peaky", -26.0, -3.0),  # wants +8, its peak allows +2
    measured("raw", None, None),  # unmeasured: as the file is
    measured("sos", -21.0, -9.0, tier=Tier.EMERGENCY),  # to -15 LUFS (its +3 dB offset)
    measured(None, None, None, tier=Tier.JINGLE),  # the built-in jingle, measured once
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(BASE_AT)


@pytest.fixture
def run(clock: FakeClock) -> Iterator[tuple[PlaybackLoop, FakeOutput]]:
    def script(n: int, at: datetime) -> Decision:
        return SCRIPT[n] if n < len(SCRIPT) else decision(None, tier=Tier.SILENCE)

    output = FakeOutput(lengths={}, clock=clock)
    for d in SCRIPT:
        if d.asset_id is not None:
            output.lengths[f"{d.asset_id}.wav"] = 2000
    output.lengths[default_jingle_path().name] = 2000
    loop = PlaybackLoop(
        FakeSource(script, now=clock.now, mono=clock.monotonic),
        clock,
        output,
        fake_media_path,
        inbox=clock.inbox(),
        min_item_interval_s=0.0,
        loudness=SETTINGS,
    )
    loop.start()
    clock.settle()
    yield loop, output
    loop.stop()


def test_every_item_is_prepared_with_its_gain(
    run: tuple[PlaybackLoop, FakeOutput], clock: FakeClock
) -> None:
    loop, output = run
    shown: dict[object, tuple[float | None, str | None]] = {}
    for _ in range(60):
        clock.run_for(0.25)
        now = loop.now_playing()
        if now.state == "playing":
            shown[now.asset_id] = (now.gain_db, now.gain_reason)
    jingle_gain = -18.0 - 2.0 - BUILTIN_JINGLE_LOUDNESS_LUFS
    assert output.gains_db == pytest.approx(
        {
            "loud.wav": -10.0,
            "quiet.wav": 10.0,
            "peaky.wav": 2.0,
            "raw.wav": 0.0,
            "sos.wav": 6.0,
            default_jingle_path().name: jingle_gain,
        }
    )
    assert shown["peaky"] == (2.0, "peak-limited")
    assert shown["raw"] == (0.0, "unmeasured")
    assert shown["jingle"] == (pytest.approx(jingle_gain), "target")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_the_built_in_jingle_s_measurement_is_the_file_s() -> None:
    """Measured again with ffmpeg's ebur128, as the API measures uploads."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(default_jingle_path()),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    summary = done.stderr[done.stderr.rindex("Summary:") :]
    integrated = float(summary.split("I:")[1].split("LUFS")[0])
    peak = float(summary.split("Peak:")[1].split("dBFS")[0])
    assert integrated == pytest.approx(BUILTIN_JINGLE_LOUDNESS_LUFS, abs=0.1)
    assert peak == pytest.approx(BUILTIN_JINGLE_TRUE_PEAK_DBTP, abs=0.1)
