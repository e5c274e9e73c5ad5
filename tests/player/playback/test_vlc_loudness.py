"""The loudness gain on the real output (issue 14): libvlc on PulseAudio, recorded with parec.

Needs a PulseAudio server whose default sink is a null sink (the setup in
``scripts/bench/bench_gap.py``); skipped without one, failed instead with
``LOMUZ_REQUIRE_PULSE=1``. What is checked is the level that reaches the sink,
from each item's first moments on: the gain must be there when the item
starts, not only once libvlc reports it playing.
"""

from __future__ import annotations

import math
import os
import queue
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from player.adapters.vlc_output import VlcOutput
from player.ports import MediaEnded
from tests.player.playback.fakes import write_tone

RATE_HZ = 44_100
ARGS = ("--aout=pulse", "--vout=dummy", "--no-video-title-show", "--quiet")
TONE_AMPLITUDE = 8000 / 32768  # write_tone's
pytestmark = pytest.mark.vlc


def _pulse_problem() -> str | None:
    if shutil.which("parec") is None or shutil.which("pactl") is None:
        return "parec/pactl not installed (apt-get install pulseaudio-utils)"
    done = subprocess.run(["pactl", "info"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "no PulseAudio server (see scripts/bench/bench_gap.py for the null sink)"
    return None


@pytest.fixture
def pulse() -> Iterator[None]:
    problem = _pulse_problem()
    if problem is not None:
        if os.environ.get("LOMUZ_REQUIRE_PULSE") == "1":
            pytest.fail(f"LOMUZ_REQUIRE_PULSE=1 but {problem}")
        pytest.skip(problem)
    # An idle null sink runs at 2 s latency and libvlc flushes the first second
    # of an item into it; a silent low-latency stream keeps it as a card's would.
    with Path("/dev/zero").open("rb") as zeros:
        keepalive = subprocess.Popen(
            ["pacat", "--playback", "--latency-msec=20", "--format=s16le",
             f"--rate={RATE_HZ}", "--channels=1"],
            stdin=zeros,
        )  # fmt: skip
        try:
            yield
        finally:
            keepalive.terminate()
            keepalive.wait(5)


def _record(play: object) -> list[int]:
    """What the default sink received while ``play()`` ran."""
    with subprocess.Popen(
        ["parec", "-d", "@DEFAULT_MONITOR@", "--format=s16le", f"--rate={RATE_HZ}",
         "--channels=1", "--latency-msec=10"],
        stdout=subprocess.PIPE,
    ) as rec:  # fmt: skip
        time.sleep(0.3)
        play()  # type: ignore[operator]
        time.sleep(0.3)
        rec.terminate()
        data = rec.communicate()[0]
    return list(struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2]))


def _item_levels_db(samples: list[int]) -> list[tuple[float, float]]:
    """(first 100 ms, rest) peak level in dB of each item heard, relative to the file."""
    quiet, gap = 30, RATE_HZ * 4 // 10
    runs: list[list[int]] = []
    current: list[int] = []
    silent = 0
    for x in samples:
        if abs(x) >= quiet:
            current.append(x)
            silent = 0
        elif current:
            silent += 1
            current.append(x)
            if silent > gap:
                runs.append(current[:-silent])
                current, silent = [], 0
    if current:
        runs.append(current)
    full = TONE_AMPLITUDE * 32768

    def db(part: list[int]) -> float:
        return 20 * math.log10(max(abs(x) for x in part) / full)

    head = RATE_HZ // 10
    levels = [(db(r[:head]), db(r[head:])) for r in runs if len(r) > 3 * head]
    # One item heard in two runs (the sink's start-up dropout) is one level:
    # consecutive items of the test never share one.
    merged: list[tuple[float, float]] = []
    for level in levels:
        if merged and abs(merged[-1][1] - level[1]) < 0.5:
            continue
        merged.append(level)
    return merged


@pytest.mark.parametrize("overlap", [True, False], ids=["two-players", "one-player"])
def test_each_item_reaches_the_sink_at_its_gain_from_its_start(
    pulse: None, tmp_path: Path, overlap: bool
) -> None:
    # 3 s items: libvlc drops most of an item shorter than about 2 s on PulseAudio
    # (bench_gap.py).
    # The first item is a warm-up at 0 dB: a fresh stream on the null sink may
    # drop out while it starts, whatever the volume.
    gains_db = [0.0, -12.0, 6.0, 0.0, -6.0]
    tones = [write_tone(tmp_path / f"t{i}.wav", 440.0, 3000) for i in range(len(gains_db))]
    out = VlcOutput(ARGS, overlap=overlap, volume_percent=100)
    events: queue.Queue[object] = queue.Queue()
    out.attach(events)

    def play() -> None:
        for tone, gain in zip(tones, gains_db, strict=True):
            token = out.prepare(tone, gain_db=gain)
            out.start(token)
            while events.get(timeout=10) != MediaEnded(token):
                pass
            time.sleep(1.0)  # a gap between items, to tell them apart
            out.stop(token)

    try:
        samples = _record(play)
    finally:
        out.close()
    levels = _item_levels_db(samples)
    assert len(levels) == len(gains_db), levels
    for (head_db, rest_db), gain in list(zip(levels, gains_db, strict=True))[1:]:
        assert rest_db == pytest.approx(gain, abs=0.5)
        assert head_db == pytest.approx(gain, abs=0.5)  # not 100 % first, then the gain
