"""Push latency: a director's change -> the player's store holds it (measurement only).

Usage: .venv/bin/python scripts/bench/bench_push.py [--changes 10] [--jitter-s 3]
       [--broker mqtt://127.0.0.1:1883]

Starts ``lomuz-control serve`` (SQLite, ``LOMUZ_MQTT_URL`` set) and a
``lomuz-player run`` daemon (null backend, ``[push] url``, poll interval 10 min:
only push can explain a change arriving within seconds). Each change retargets a
schedule's priority (PUT /v1/schedules/{id}); the time is from the PUT's answer
to the moment the player's database holds the new cursor (read with sqlite3
every 10 ms), so it counts the nudge fan-out, the broker, the player's jitter
(0..``--jitter-s``), the fresh manifest request and the delta's apply.
Changes are spaced past ``[push] min_interval_s`` so the rate limit never waits.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import ApiServer, Director, PlayerProcess, wav_bytes  # noqa: E402


def _cursor(db: Path) -> str | None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
        row = conn.execute("SELECT value FROM state WHERE key = 'cursor'").fetchone()
    return None if row is None else str(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--jitter-s", type=int, default=3)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lomuz-bench-push-") as tmp:
        root = Path(tmp)
        api = ApiServer(root / "api")
        api.env["LOMUZ_MQTT_URL"] = args.broker
        api.env["LOMUZ_SYNC_INTERVAL_S"] = "600"
        api.start()
        director = Director(api, api.create_tenant("Bench"))
        player = PlayerProcess(root / "p")
        text = player.config_path.read_text(encoding="utf-8")
        text = text.replace("[sync]\ninterval_s = 10\n", "[sync]\ninterval_s = 600\n")
        player.config_path.write_text(
            text + f'[push]\nurl = "{args.broker}"\njitter_s = {args.jitter_s}\n'
            "min_interval_s = 1\n",
            encoding="utf-8",
        )
        try:
            device = director.device("bench")
            player.enroll(api.url, device["enrollment_code"])
            asset = director.upload("tone", wav_bytes(1))
            playlist = director.playlist("p", [asset["id"]])
            schedule = director.schedule(playlist["id"], device["id"])
            player.start()
            deadline = time.monotonic() + 30
            while player.status()["push"]["state"] != "connected":
                if time.monotonic() > deadline:
                    raise SystemExit("the player never connected to the broker")
                time.sleep(0.2)
            db = player.data_dir / "player.db"
            latencies_s = []
            for n in range(args.changes):
                before = _cursor(db)
                body = {
                    "playlist_id": playlist["id"],
                    "target": {"device_id": device["id"]},
                    "priority": n + 1,
                }
                put = director.http.put(f"/v1/schedules/{schedule['id']}", json=body)
                put.raise_for_status()
                changed_at = time.monotonic()
                while _cursor(db) == before:
                    if time.monotonic() - changed_at > 30:
                        raise SystemExit(f"change {n} did not arrive within 30 s")
                    time.sleep(0.01)
                latencies_s.append(time.monotonic() - changed_at)
                time.sleep(1.2)  # past min_interval_s
            player.stop()
        finally:
            player.close()
            director.close()
            api.stop()
    latencies_s.sort()
    print(
        f"push, jitter 0..{args.jitter_s} s, {args.changes} changes: "
        f"median {statistics.median(latencies_s):.2f} s, min {latencies_s[0]:.2f} s, "
        f"max {latencies_s[-1]:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
