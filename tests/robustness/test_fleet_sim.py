"""scripts/fleet_sim.py against a real `lomuz-control serve` process on loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "scripts" / "fleet_sim.py"
CONTROL = Path(sys.executable).with_name("lomuz-control")


def _control_api_ready() -> bool:
    try:
        return importlib.util.find_spec("control_api.cli") is not None and CONTROL.exists()
    except ImportError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real control API on loopback; yields (base URL, database URL)."""
    if not _control_api_ready():
        pytest.skip("control_api.cli (lomuz-control) is not available yet")
    db_url = f"sqlite:///{tmp_path / 'control.sqlite'}"
    env = {**os.environ, "LOMUZ_DATABASE_URL": db_url, "LOMUZ_MEDIA_DIR": str(tmp_path / "media")}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(CONTROL), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "server did not come up:\n"
                    + (tmp_path / "server.log").read_text(errors="replace")
                )
            time.sleep(0.1)
        yield base, db_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_five_devices_for_five_seconds_without_errors(
    server: tuple[str, str], tmp_path: Path
) -> None:
    base, db_url = server
    done = subprocess.run(
        [
            sys.executable,
            str(SIM),
            "--api",
            base,
            "--database-url",
            db_url,
            "--devices",
            "5",
            "--duration-s",
            "5",
            "--concurrency",
            "4",
            "--speedup",
            "120",
            "--edit-interval-s",
            "1",
            "--range-fraction",
            "0.5",
            "--sync-interval-s",
            "60",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    server_log = (tmp_path / "server.log").read_text(errors="replace")[-4000:]
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\nserver log:\n{server_log}"
    report = json.loads(done.stdout)
    assert report["errors_total"] == 0
    assert report["devices"] == 5
    endpoints = report["endpoints"]
    for label in ("GET /v1/device/manifest", "POST /v1/device/telemetry", "POST /v1/device/plays"):
        assert endpoints[label]["count"] > 0, label
        assert endpoints[label]["p99_ms"] is not None
    assert endpoints["GET /v1/media"]["count"] + endpoints["GET /v1/media (Range)"]["count"] > 0
    assert report["manifest_statuses"].get("304", 0) > 0  # the cursor is honoured
    assert report["manifest_statuses"].get("200", 0) >= 5  # each device's first sync
    assert report["bytes_downloaded"] >= 5 * 3 * 64 * 1024


def test_bad_arguments_are_a_usage_error() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SIM),
            "--api",
            "http://127.0.0.1:9",
            "--admin-token",
            "x",
            "--devices",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "--devices" in done.stderr
    assert "must be > 0" in done.stderr


def test_unreachable_api_fails_clearly() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SIM),
            "--api",
            f"http://127.0.0.1:{_free_port()}",
            "--admin-token",
            "x",
            "--devices",
            "1",
            "--duration-s",
            "1",
            "--timeout-s",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "asset upload failed" in done.stderr
    assert "ConnectError" in done.stderr
