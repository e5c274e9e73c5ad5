"""scripts/bench/bench_fleet_push.py, small: 50 MQTT devices, one change, real everything.

Its own Mosquitto, a fresh PostgreSQL database and the API under granian with
two workers, as the 5,000-device measurement in docs/BENCHMARKS.md runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench" / "bench_fleet_push.py"
PG_URL = os.environ.get("LOMUZ_TEST_POSTGRES_URL", "")
DEVICES = 50

pytestmark = pytest.mark.postgres


def _require(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("LOMUZ_CI") == "1":
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is missing")


def test_fifty_devices_get_one_change_by_push(tmp_path: Path) -> None:
    _require("LOMUZ_TEST_POSTGRES_URL", bool(PG_URL))
    _require("mosquitto", bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()))
    pytest.importorskip("aiomqtt")
    done = subprocess.run(
        [sys.executable, str(BENCH), "--devices", str(DEVICES), "--changes", "1",
         "--jitter-s", "2", "--postgres", PG_URL, "--deadline-s", "90", "--json"],
        capture_output=True, text=True, timeout=150, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)

    assert report["ok"] is True
    assert report["http_errors"] == 0
    assert report["mqtt_errors"] == 0
    assert report["devices"] == DEVICES
    assert report["api_processes"] >= 3  # granian's main process and its two workers
    [change] = report["changes"]
    assert change["held_new_cursor"] == DEVICES
    assert change["nudged_devices"] == DEVICES
    assert change["missed_15s"] == 0
    # Each device asks once, after its jitter (0..2 s) and a nudge of a few ms.
    assert change["manifest_requests"] == DEVICES
    assert 0 <= change["p50_s"] <= change["p90_s"] <= change["p99_s"] <= change["max_s"] < 15
    assert 1 <= change["peak_manifest_rps_client"] <= DEVICES
    assert change["peak_manifest_rps_server"] is not None
    assert change["peak_manifest_rps_server"] > 0
    for phase in ("memory_idle_connected", "memory_peak_sampled"):
        for process in ("broker", "api", "simulator"):
            assert report[phase][f"{process}_rss_kb"] > 0, (phase, process)
    assert set(report["cpu_during_changes"]) >= {"broker_cores", "api_cores", "simulator_cores"}
    assert report["setup"]["enrolled_per_s"] > 0
