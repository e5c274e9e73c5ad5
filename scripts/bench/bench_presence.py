"""Presence latency: a real player's link and the API's view of it (measurement only).

Usage: .venv/bin/python scripts/bench/bench_presence.py [--runs 3] [--power-cuts 1]
       [--broker mqtt://127.0.0.1:1883]

Starts ``lomuz-control serve`` (SQLite, ``LOMUZ_MQTT_URL`` set) and a
``lomuz-player run`` daemon (null backend, ``[push] url``, the default 20 s
keepalive). Each run measures, polling GET /v1/devices/{id} every 20 ms:
start -> "online" (from spawning the daemon: process start, broker connect,
the retained publish, the API worker's store); clean stop (SIGTERM) -> "offline";
SIGKILL -> "offline" (the kernel closes the socket: the will fires at once).
Then power cuts: SIGSTOP (the socket stays open and silent, as when a box loses
power or its network) -> "offline" (the broker's 1.5 x keepalive, then the will).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import ApiServer, Director, PlayerProcess  # noqa: E402


def _until_state(director: Director, device_id: str, state: str, timeout_s: float) -> float:
    started = time.monotonic()
    while True:
        got = director.http.get(f"/v1/devices/{device_id}")
        got.raise_for_status()
        if got.json()["presence"]["state"] == state:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"presence did not become {state} within {timeout_s} s")
        time.sleep(0.02)


def _start(player: PlayerProcess, director: Director, device_id: str) -> tuple[float, float]:
    """(spawn -> online, daemon answering status -> online)."""
    started = time.monotonic()
    player.start()
    answering_s = time.monotonic() - started
    after_s = _until_state(director, device_id, "online", 30)
    return answering_s + after_s, after_s


def _summary(name: str, values_s: list[float]) -> str:
    values_s = sorted(values_s)
    return (
        f"{name}: median {statistics.median(values_s):.2f} s, min {values_s[0]:.2f} s, "
        f"max {values_s[-1]:.2f} s ({len(values_s)} runs)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--power-cuts", type=int, default=1)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    args = parser.parse_args()
    online_s: list[float] = []
    online_after_s: list[float] = []
    stop_s: list[float] = []
    kill_s: list[float] = []
    cut_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lomuz-bench-presence-") as tmp:
        root = Path(tmp)
        api = ApiServer(root / "api")
        api.env["LOMUZ_MQTT_URL"] = args.broker
        api.start()
        director = Director(api, api.create_tenant("Bench"))
        player = PlayerProcess(root / "p")
        text = player.config_path.read_text(encoding="utf-8")
        player.config_path.write_text(text + f'[push]\nurl = "{args.broker}"\n', encoding="utf-8")
        try:
            device = director.device("bench")
            player.enroll(api.url, device["enrollment_code"])
            for _ in range(args.runs):
                for clean in (True, False):
                    total, after = _start(player, director, device["id"])
                    online_s.append(total)
                    online_after_s.append(after)
                    if clean:
                        player.stop()
                    else:
                        player.kill()
                    offline_s = _until_state(director, device["id"], "offline", 30)
                    (stop_s if clean else kill_s).append(offline_s)
            for _ in range(args.power_cuts):
                _start(player, director, device["id"])
                assert player.proc is not None
                os.kill(player.proc.pid, signal.SIGSTOP)
                cut_s.append(_until_state(director, device["id"], "offline", 60))
                player.kill()
        finally:
            player.close()
            director.close()
            api.stop()
    print(_summary("daemon spawned -> API online", online_s))
    print(_summary("daemon answering status -> API online", online_after_s))
    print(_summary("SIGTERM -> API offline", stop_s))
    print(_summary("SIGKILL -> API offline", kill_s))
    if cut_s:
        print(_summary("SIGSTOP (power cut) -> API offline", cut_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
