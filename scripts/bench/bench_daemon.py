"""The daemon's start -> first item playing, and its RSS while playing (measurement only).

Usage: .venv/bin/python scripts/bench/bench_daemon.py [--runs 5] [--duration-s 30]
       [--backend vlc] [--audio-output dummy]

Each run starts ``lomuz-player run`` as a new process on a state dir holding an
imported bundle (three 3 s tones on an all-day playlist; not enrolled, so no
network), then:

- "first item": time from spawning the process to the first
  ``playback: start -> ...`` log line (the loop has handed the first item to
  the output), and to the first control-socket ``status`` whose
  ``now_playing.state`` is ``playing`` (the output reports it playing; with
  ``--audio-output dummy`` libvlc decodes in real time into no device);
- RSS: ``VmRSS`` sampled every 0.5 s for ``--duration-s`` while it plays
  (median and last), and ``VmHWM`` (peak) at the end.

Then SIGTERM, and the time until the process exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from player.runtime.control import ask_daemon  # noqa: E402
from tests.player.cli.bundles import (  # noqa: E402
    BundleAsset,
    manifest_for,
    tiny_wav,
    write_bundle,
)


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def setup(root: Path, backend: str, audio_output: str | None) -> dict[str, str]:
    assets = [
        BundleAsset(f"tone-{hz}", tiny_wav(hz, duration_ms=3000, rate_hz=44_100))
        for hz in (440, 550, 660)
    ]
    bundle = write_bundle(root / "bundle", assets, manifest_for(assets, [a.id for a in assets]))
    config = root / "player.toml"
    aout = f'audio_output = "{audio_output}"\n' if audio_output else ""
    config.write_text(f'data_dir = "{root / "data"}"\n[playback]\nbackend = "{backend}"\n{aout}')
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
    env["LOMUZ_PLAYER_CONFIG"] = str(config)
    env["PYTHONPATH"] = str(REPO)
    subprocess.run(
        [*player_argv(), "import", str(bundle)], env=env, check=True, capture_output=True, cwd=root
    )
    return env


def player_argv() -> list[str]:
    script = Path(sys.executable).parent / "lomuz-player"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from player.cli import main; sys.exit(main())"]


def one_run(root: Path, env: dict[str, str], duration_s: float) -> dict[str, float]:
    socket_path = root / "data" / "control.sock"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*player_argv(), "run"],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_log_s: list[float] = []
    log_lines: list[str] = []

    def read_log() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log_lines.append(line.rstrip())
            if not first_log_s and "playback: start ->" in line:
                first_log_s.append(time.perf_counter() - started)

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    playing_s = None
    try:
        deadline = started + 30
        while playing_s is None and time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit("daemon exited:\n" + "\n".join(log_lines))
            try:
                reply = ask_daemon(socket_path, "status", timeout_s=1.0)
            except (OSError, ValueError):
                reply = None
            playing = (reply or {}).get("now_playing") or {}
            if playing.get("state") == "playing":
                playing_s = time.perf_counter() - started
            else:
                time.sleep(0.02)
        if playing_s is None:
            raise SystemExit("not playing after 30 s:\n" + "\n".join(log_lines))
        rss_kib = []
        until = time.perf_counter() + duration_s
        while time.perf_counter() < until:
            rss_kib.append(proc_kib(proc.pid, "VmRSS"))
            time.sleep(0.5)
        hwm_kib = proc_kib(proc.pid, "VmHWM")
    finally:
        stop_started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stop_s = time.perf_counter() - stop_started
        reader.join(timeout=5)
    return {
        "first_log_s": first_log_s[0] if first_log_s else float("nan"),
        "playing_s": playing_s,
        "rss_median_mib": statistics.median(rss_kib) / 1024,
        "rss_last_mib": rss_kib[-1] / 1024,
        "hwm_mib": hwm_kib / 1024,
        "stop_s": stop_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--backend", default="vlc", choices=["vlc", "null"])
    parser.add_argument(
        "--audio-output", default="dummy", help="libvlc aout module ('' = libvlc's choice)"
    )
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lomuz-bench-daemon-"))
    try:
        env = setup(root, opts.backend, opts.audio_output or None)
        print(
            f"# backend={opts.backend} audio_output={opts.audio_output or 'default'} "
            f"runs={opts.runs} duration={opts.duration_s:.0f}s"
        )
        print(
            f"{'run':>3} {'first_log_s':>11} {'playing_s':>9} {'rss_med_MiB':>11} "
            f"{'rss_last_MiB':>12} {'peak_MiB':>8} {'stop_s':>6}"
        )
        results = []
        for i in range(opts.runs):
            r = one_run(root, env, opts.duration_s)
            results.append(r)
            print(
                f"{i + 1:>3} {r['first_log_s']:11.3f} {r['playing_s']:9.3f} "
                f"{r['rss_median_mib']:11.1f} {r['rss_last_mib']:12.1f} "
                f"{r['hwm_mib']:8.1f} {r['stop_s']:6.2f}"
            )

        def med(key: str) -> float:
            return statistics.median(r[key] for r in results)

        print(
            f"med {med('first_log_s'):11.3f} {med('playing_s'):9.3f} "
            f"{med('rss_median_mib'):11.1f} {med('rss_last_mib'):12.1f} "
            f"{med('hwm_mib'):8.1f} {med('stop_s'):6.2f}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
