"""Loudness levelling (issue 14), measured on the real mixed audio output.

The whole path a box takes: ``--items`` generated pink-noise tracks spanning
20 LU (-8 ... -28 LUFS; every fourth one with a 0 dBFS click, so the -1 dBTP
ceiling bites) are uploaded to the real control API (``create_app`` on
loopback, SQLite), which measures them with ffmpeg in its background measurer;
the device's manifest then carries ``loudness_lufs``/``true_peak_dbtp``; the
player decodes it (``player.wire``), applies it to its store, and its playback
loop (``StoreSource`` decisions, ``VlcOutput`` on PulseAudio) plays the
playlist. The null sink's monitor is recorded with ``parec`` (exactly what a
speaker would receive) and each item's segment (tracks end in 0.6 s of
digital silence, which EBU R128's gate ignores) is measured with ffmpeg's
``ebur128``. Reported: the items within +-1 LU of the target, and of what the
gain rule expects (target, or less where the peak ceiling or the boost cap
bites); the spread of the files (= without gain, at master volume 100 %, as
measured) and of the recording; the recording's highest true peak.

Setup (PulseAudio with a null sink as default, as ``bench_gap.py``)::

    apt-get install pulseaudio pulseaudio-utils
    export XDG_RUNTIME_DIR=/tmp/lomuz-pulse; mkdir -p -m 700 $XDG_RUNTIME_DIR
    pulseaudio -D -n --exit-idle-time=-1 \\
        --load="module-null-sink sink_name=cap rate=44100 channels=1" \\
        --load=module-native-protocol-unix
    pactl set-default-sink cap
    .venv/bin/python scripts/bench/bench_loudness.py --items 20
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from control_api.app import create_app
from control_api.settings import load_settings as load_api_settings
from control_api.store import repository as repo
from control_api.store.db import Database
from lomuz_rules.model import Tier
from player.adapters.vlc_output import VlcOutput
from player.composition import StoreSource
from player.core.loudness import LoudnessSettings, item_gain
from player.runtime.playback import PlaybackLoop
from player.store import PlayerStore
from player.wire import decode_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gap import Recorder, _Clock

RATE_HZ = 44_100
ARGS = ("--aout=pulse", "--vout=dummy", "--no-video-title-show", "--quiet")
NOISE_S = 4.4
SILENCE_S = 0.6
QUIET = 8  # |sample| below this is silence (s16)


def make_track(path: Path, lufs_wanted: float, seed: int, click: bool) -> None:
    """Pink noise at about ``lufs_wanted`` (ffmpeg), with a 0 dBFS click when ``click``."""
    # Pink noise at amplitude 0.25 measures about -26.9 LUFS: shift by the difference
    # (the loudest tracks clip, as loud masters are limited).
    gain_db = lufs_wanted + 26.9
    graph = f"anoisesrc=d={NOISE_S}:c=pink:r={RATE_HZ}:a=0.25:s={seed},volume={gain_db:.2f}dB"
    if click:
        graph += (
            f"[n];aevalsrc='if(between(t,2,2.0004),0.999,0)':d={NOISE_S}:s={RATE_HZ}[c];"
            "[n][c]amix=inputs=2:normalize=0"
        )
    graph += f",apad=pad_dur={SILENCE_S}"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex", graph,
         "-ac", "1", "-c:a", "pcm_s16le", str(path)],
        check=True,
    )  # fmt: skip


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of ``path`` by ffmpeg's ebur128."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = done.stderr[done.stderr.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak_text = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1)  # type: ignore[union-attr]
    return integrated, float(peak_text)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def measured_manifest(tmp: Path, files: list[Path]) -> bytes:
    """Upload ``files`` to a real API that measures them; the device's manifest once measured."""
    env = {
        "LOMUZ_DATABASE_URL": f"sqlite:///{tmp / 'control.db'}",
        "LOMUZ_MEDIA_DIR": str(tmp / "control-media"),
        "LOMUZ_MEASURE_LOUDNESS": "1",
        "LOMUZ_MEASURE_POLL_S": "1",
    }
    settings = load_api_settings(env)
    db = Database(settings.database_url)
    db.upgrade()
    with db.write() as s:
        _, token = repo.create_tenant(s, "bench", datetime.now(UTC))
    db.dispose()
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as admin:
            ids = []
            for f in files:
                reply = admin.post(
                    "/v1/assets",
                    params={"filename": f.name, "title": f.stem},
                    content=f.read_bytes(),
                    headers={"Content-Type": "audio/wav"},
                )
                reply.raise_for_status()
                ids.append(reply.json()["id"])
            playlist = admin.post(
                "/v1/playlists",
                json={"name": "bench", "items": [{"asset_id": i} for i in ids]},
            ).json()
            admin.post(
                "/v1/schedules", json={"playlist_id": playlist["id"], "target": {"all": True}}
            ).raise_for_status()
            code = admin.post("/v1/devices", json={"name": "bench"}).json()["enrollment_code"]
            device_token = httpx.post(f"{url}/v1/enroll", json={"enrollment_code": code}).json()[
                "device_token"
            ]
            deadline = time.monotonic() + 30 + 3 * len(files)
            while True:
                body = httpx.get(
                    f"{url}/v1/device/manifest",
                    headers={"Authorization": f"Bearer {device_token}"},
                ).content
                assets = json.loads(body)["assets"]
                if all(a.get("loudness_lufs") is not None for a in assets):
                    return body
                if time.monotonic() > deadline:
                    raise SystemExit(f"the API measured {assets} only")
                time.sleep(0.5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        app.close()


def segments(samples: list[int], count: int) -> list[list[int]]:
    """The first ``count`` sounding runs, split by silences of at least 0.3 s."""
    gap = int(0.3 * RATE_HZ)
    runs: list[tuple[int, int]] = []
    start: int | None = None
    quiet_run = 0
    for i, x in enumerate(samples):
        if abs(x) >= QUIET:
            if start is None:
                start = i
            quiet_run = 0
        elif start is not None:
            quiet_run += 1
            if quiet_run >= gap:
                runs.append((start, i - quiet_run + 1))
                start, quiet_run = None, 0
    if start is not None:
        runs.append((start, len(samples) - quiet_run))
    runs = [r for r in runs if r[1] - r[0] > RATE_HZ]  # drop blips
    if len(runs) < count:  # more: the item playing when the loop was stopped
        raise SystemExit(f"found {len(runs)} sounding segments in the recording, not {count}")
    return [samples[a:b] for a, b in runs[:count]]


def write_wav(path: Path, samples: list[int]) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))


def play_through_the_player(tmp: Path, manifest: bytes, by_sha: dict[str, Path], items: int):  # type: ignore[no-untyped-def]
    """Decode and store the manifest, then let the playback loop play ``items`` items."""
    store = PlayerStore.open(tmp / "player.db")
    store.catalogue.apply_manifest(decode_manifest(manifest))
    now = datetime.now(UTC) - timedelta(seconds=1)
    for a in store.catalogue.all_assets():
        store.files.mark_file_verified(a.sha256, a.size_bytes, now)
    source = StoreSource(store, Tier.SILENCE)
    played: list[Any] = []
    done = threading.Event()
    record = source.record_play

    def counting(play: Any) -> None:
        record(play)
        played.append(play)
        if len(played) >= items:
            done.set()

    source.record_play = counting  # type: ignore[method-assign]
    output = VlcOutput(ARGS)
    settings = LoudnessSettings()
    loop = PlaybackLoop(source, _Clock(), output, lambda sha: by_sha[sha], loudness=settings)
    loop.start()
    done.wait(items * (NOISE_S + SILENCE_S) * 2 + 20)
    loop.stop()
    output.close()
    order = [p.sha256 for p in played[:items]]
    store.close()
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args()
    settings = LoudnessSettings()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = []
        for i in range(args.items):
            lufs = -8.0 - 20.0 * i / max(1, args.items - 1)
            path = tmp / f"track{i:02d}.wav"
            make_track(path, lufs, seed=1000 + i, click=i % 4 == 3)
            files.append(path)
        t0 = time.monotonic()
        manifest = measured_manifest(tmp, files)
        measured_s = time.monotonic() - t0
        assets = {a["sha256"]: a for a in json.loads(manifest)["assets"]}
        by_sha = {hashlib.sha256(f.read_bytes()).hexdigest(): f for f in files}
        with Path("/dev/zero").open("rb") as zeros:
            keepalive = subprocess.Popen(
                ["pacat", "--playback", "--latency-msec=20", "--format=s16le",
                 f"--rate={RATE_HZ}", "--channels=1"],
                stdin=zeros,
            )  # fmt: skip
            time.sleep(0.5)
            try:
                recorder = Recorder(tmp / "out.raw")
                order = play_through_the_player(tmp, manifest, by_sha, args.items)
                samples = recorder.stop()
            finally:
                keepalive.terminate()
                keepalive.wait(5)
        rows = []
        for n, (sha, seg) in enumerate(zip(order, segments(samples, len(order)), strict=True)):
            seg_path = tmp / f"seg{n:02d}.wav"
            write_wav(seg_path, seg)
            got_lufs, got_peak = ebur128(seg_path)
            a = assets[sha]
            gain = item_gain(a["loudness_lufs"], a["true_peak_dbtp"], "playlist", settings)
            rows.append(
                {
                    "file": by_sha[sha].name,
                    "file_lufs": a["loudness_lufs"],
                    "file_peak_dbtp": a["true_peak_dbtp"],
                    "gain_db": round(gain.gain_db, 2),
                    "why": gain.reason,
                    "expected_lufs": round(a["loudness_lufs"] + gain.gain_db, 2),
                    "played_lufs": got_lufs,
                    "played_peak_dbtp": got_peak,
                }
            )
    for r in rows:
        print(json.dumps(r))
    target = settings.target_lufs
    before = [r["file_lufs"] for r in rows]
    after = [r["played_lufs"] for r in rows]
    unlimited = [r["played_lufs"] for r in rows if r["why"] == "target"]
    summary = {
        "items": len(rows),
        "api_measured_in_s": round(measured_s, 1),
        "files_within_1lu_of_target": sum(abs(x - target) <= 1 for x in before),
        "played_within_1lu_of_target": sum(abs(x - target) <= 1 for x in after),
        "played_within_1lu_of_expected": sum(
            abs(r["played_lufs"] - r["expected_lufs"]) <= 1 for r in rows
        ),
        "max_error_vs_expected_lu": round(
            max(abs(r["played_lufs"] - r["expected_lufs"]) for r in rows), 2
        ),
        "spread_before_lu": round(max(before) - min(before), 1),
        "spread_after_lu": round(max(after) - min(after), 1),
        "spread_after_unlimited_lu": round(
            max(unlimited, default=0.0) - min(unlimited, default=0.0), 1
        ),
        "stdev_before_lu": round(statistics.pstdev(before), 2),
        "stdev_after_lu": round(statistics.pstdev(after), 2),
        "max_played_true_peak_dbtp": max(r["played_peak_dbtp"] for r in rows),
        "peak_limited": sum(r["why"] == "peak-limited" for r in rows),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
