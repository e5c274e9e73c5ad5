"""Transition gap between back-to-back items, measured on the real mixed audio output.

Needs a PulseAudio server with a null sink as default (the bench records its
monitor with ``parec``, i.e. exactly what a speaker would receive)::

    apt-get install pulseaudio pulseaudio-utils
    export XDG_RUNTIME_DIR=/tmp/lomuz-pulse; mkdir -p -m 700 $XDG_RUNTIME_DIR
    pulseaudio -D -n --exit-idle-time=-1 \\
        --load="module-null-sink sink_name=cap rate=44100 channels=1" \\
        --load=module-native-protocol-unix
    pactl set-default-sink cap
    .venv/bin/python scripts/bench/bench_gap.py --items 50

It plays ``--items`` generated sine tones (alternating 440/660 Hz, constant
amplitude) back to back with (a) the PlaybackLoop's two-player hand-over
("gapless": the next item pre-started paused at 0 on the idle player, then
resumed), (a') the same with a cold start (``set_media`` + ``play`` at the
switch: "gapless_cold", the method before pre-start), (b) naive
single-player set_media+play on end-of-media, (c) the loop in
single-player mode, and reports per transition the silence (samples below
a threshold for > 1 ms) and the overlap (window peak above 1.35x one tone).

Two facts of libvlc 3's PulseAudio output shape the setup (found with this bench):
- an idle null sink runs at 2 s latency, so libvlc "starts late" and flushes
  the first second of every item; the bench keeps a silent low-latency stream
  (``pacat < /dev/zero``) on the sink, as a sound card's sink would have;
- items shorter than about 2 s are dropped almost entirely (libvlc decodes the
  whole file ahead, reaches the end, and tears the stream down before it is
  heard), so the default tones are 3 s long, like real tracks.
"""

from __future__ import annotations

import argparse
import math
import queue
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lomuz_rules.model import Decision, MediaType, Tier
from player.adapters.vlc_output import VlcOutput
from player.core.model import ItemStart, Play
from player.runtime.playback import PlaybackLoop

RATE_HZ = 44_100
AMPLITUDE = 8000
ARGS = ("--aout=pulse", "--vout=dummy", "--no-video-title-show", "--quiet")


def write_tone(path: Path, freq_hz: float, duration_ms: int) -> None:
    n = RATE_HZ * duration_ms // 1000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(AMPLITUDE * math.sin(2 * math.pi * freq_hz * i / RATE_HZ)))
                for i in range(n)
            )
        )


class Recorder:
    """``parec`` of the default sink's monitor into a raw s16le mono file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._proc = subprocess.Popen(
            [
                "parec",
                "-d",
                "@DEFAULT_MONITOR@",
                "--format=s16le",
                f"--rate={RATE_HZ}",
                "--channels=1",
                "--latency-msec=10",
            ],
            stdout=self._file,
        )
        time.sleep(0.5)

    def stop(self) -> list[int]:
        time.sleep(0.5)
        self._proc.terminate()
        self._proc.wait(5)
        self._file.close()
        data = self.path.read_bytes()
        return list(struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2]))


def analyse(samples: list[int], transitions: int) -> dict[str, object]:
    quiet = 200
    active = [i for i, x in enumerate(samples) if abs(x) >= quiet]
    if not active:
        return {"error": "nothing recorded"}
    first, last = active[0], active[-1]
    body = samples[first : last + 1]
    silences_ms: list[float] = []
    run = 0
    for x in body:
        if abs(x) < quiet:
            run += 1
        else:
            if run > RATE_HZ // 1000:  # > 1 ms: a real gap, not a zero crossing
                silences_ms.append(run * 1000 / RATE_HZ)
            run = 0
    window = RATE_HZ * 5 // 1000
    peaks = [max(abs(x) for x in body[i : i + window]) for i in range(0, len(body), window)]
    loud = [p for p in peaks if p >= quiet]
    tone_peak = statistics.median(loud)
    overlaps_ms: list[float] = []
    run = 0
    for p in peaks:
        if p > 1.35 * tone_peak:
            run += 1
        else:
            if run:
                overlaps_ms.append(run * 5.0)
            run = 0
    gaps = sorted(silences_ms + [0.0] * max(0, transitions - len(silences_ms)))
    over = sorted(overlaps_ms + [0.0] * max(0, transitions - len(overlaps_ms)))

    def p95(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]

    return {
        "transitions": transitions,
        "silent_runs": len(silences_ms),
        "silence_median_ms": round(statistics.median(gaps), 1),
        "silence_p95_ms": round(p95(gaps), 1),
        "silence_max_ms": round(max(gaps), 1),
        "overlap_runs": len(overlaps_ms),
        "overlap_median_ms": round(statistics.median(over), 1),
        "overlap_p95_ms": round(p95(over), 1),
        "overlap_max_ms": round(max(over), 1),
        "recorded_s": round(len(body) / RATE_HZ, 2),
        "tone_peak": tone_peak,
    }


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class _Source:
    def __init__(self, names: list[str]) -> None:
        self._names = names
        self._n = 0
        self.plays: list[Play] = []
        self.done = threading.Event()

    def decide(self, at: datetime) -> Decision:
        if self._n >= len(self._names):
            return Decision(at, Tier.SILENCE, None, None, None, None, None, None, ("done",))
        name = self._names[self._n]
        self._n += 1
        return Decision(at, Tier.PLAYLIST, name, name, MediaType.AUDIO, "s", "p", None, ("bench",))

    def mark_started(self, start: ItemStart) -> None:
        pass  # the bench plays its list in order

    def mark_alive(self, at: datetime) -> None:
        pass

    def record_play(self, play: Play) -> None:
        self.plays.append(play)
        if len(self.plays) >= len(self._names):
            self.done.set()

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        print(f"quarantined {sha256}: {reason}", file=sys.stderr)


def run_loop(
    files: list[Path], overlap: bool, start_lead_ms: int, item_ms: int, prestart: bool = True
) -> None:
    output = VlcOutput(ARGS, overlap=overlap, prestart=prestart)
    by_name = {f.name: f for f in files}
    source = _Source([f.name for f in files])
    loop = PlaybackLoop(
        source, _Clock(), output, lambda sha: by_name[sha], start_lead_ms=start_lead_ms
    )
    loop.start()
    source.done.wait(len(files) * item_ms / 1000 * 1.5 + 10)
    time.sleep(0.5)
    loop.stop()
    output.close()


def run_naive(files: list[Path]) -> None:
    import vlc

    instance = vlc.Instance(list(ARGS))
    player = instance.media_player_new()
    ended: queue.Queue[bool] = queue.Queue()
    manager = player.event_manager()
    manager.event_attach(vlc.EventType.MediaPlayerEndReached, lambda _e: ended.put(True))
    for f in files:
        media = instance.media_new_path(str(f))
        player.set_media(media)
        media.release()
        player.play()
        ended.get(timeout=10)
    time.sleep(0.3)
    player.stop()
    manager.event_detach(vlc.EventType.MediaPlayerEndReached)
    player.release()
    instance.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--item-ms", type=int, default=3000)
    parser.add_argument("--start-lead-ms", type=int, default=20)
    parser.add_argument(
        "--only", choices=["gapless", "gapless_cold", "naive", "single"], action="append"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        files = []
        for i in range(args.items):
            path = tmpdir / f"tone{i:03d}.wav"
            write_tone(path, 440.0 if i % 2 == 0 else 660.0, args.item_ms)
            files.append(path)
        methods = {
            "gapless": lambda: run_loop(files, True, args.start_lead_ms, args.item_ms),
            "gapless_cold": lambda: run_loop(
                files, True, args.start_lead_ms, args.item_ms, prestart=False
            ),
            "naive": lambda: run_naive(files),
            "single": lambda: run_loop(files, False, args.start_lead_ms, args.item_ms),
        }
        with Path("/dev/zero").open("rb") as zeros:
            keepalive = subprocess.Popen(
                [
                    "pacat",
                    "--playback",
                    "--latency-msec=20",
                    "--format=s16le",
                    f"--rate={RATE_HZ}",
                    "--channels=1",
                ],
                stdin=zeros,
            )
            time.sleep(0.5)
            try:
                for name in args.only or list(methods):
                    recorder = Recorder(tmpdir / f"{name}.raw")
                    t0 = time.monotonic()
                    methods[name]()
                    samples = recorder.stop()
                    result = analyse(samples, args.items - 1)
                    result["wall_s"] = round(time.monotonic() - t0, 1)
                    print(name, result, flush=True)
            finally:
                keepalive.terminate()
                keepalive.wait(5)


if __name__ == "__main__":
    main()
