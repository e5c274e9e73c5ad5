"""/metrics under the unit's real server: granian with 2 workers, counted as one.

The unit's own ExecStartPre/ExecStart and Environment= lines run on loopback
(paths swapped for this checkout's venv), PROMETHEUS_MULTIPROC_DIR pointing at
an empty directory as the unit's RuntimeDirectory= would. The field bug was a
scrape seeing only the worker that answered it (12 requests shown as 6).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.control_api.metrics.helpers import samples
from tests.netutil import free_port
from tests.ops.conftest import UNITS, parse_unit, unit_command

HEALTHZ = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
TOKEN = "metrics-token-of-the-workers-test"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


def per_worker_healthz(prom_dir: Path, scratch: Path) -> dict[int, float]:
    """/healthz requests counted by each worker, read from its own file alone."""
    counts: dict[int, float] = {}
    for path in sorted(prom_dir.glob("counter_*.db")):
        pid = int(path.stem.split("_")[1])
        alone = scratch / str(pid)
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts[pid] = samples(generate_latest(registry)).get(
            ("lomuz_http_requests_total", HEALTHZ), 0.0
        )
    return counts


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    service = parse_unit(UNITS / "lomuz-control.service")["Service"]
    environ = dict(os.environ)
    for assignment in service["Environment"]:
        key, _, value = assignment.partition("=")
        environ[key] = value
    assert environ["LOMUZ_HTTP_WORKERS"] == "2"
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == "/run/lomuz-control/metrics"
    assert "lomuz-control/metrics" in service["RuntimeDirectory"][0].split()
    prom_dir = tmp_path / "metrics"  # what RuntimeDirectory= gives: empty at each start
    prom_dir.mkdir()
    environ.update(
        LOMUZ_DATABASE_URL=f"sqlite:///{tmp_path / 'control.db'}",
        LOMUZ_MEDIA_DIR=str(tmp_path / "media"),
        LOMUZ_HTTP_PORT=str(free_port()),
        PROMETHEUS_MULTIPROC_DIR=str(prom_dir),
        LOMUZ_METRICS_TOKEN=TOKEN,
    )
    (pre,) = service["ExecStartPre"]
    migrated = subprocess.run(
        unit_command(pre, environ), env=environ, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    (start,) = service["ExecStart"]
    proc = subprocess.Popen(
        unit_command(start, environ), env=environ,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{environ['LOMUZ_HTTP_PORT']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "granian exited early"
            assert time.monotonic() < deadline, "no answer within 30 s"
            # Both workers up: each one writes its files when it builds the app.
            if len(list(prom_dir.glob("counter_*.db"))) == 2:
                try:
                    if httpx.get(f"{base}/metrics", headers=SCRAPER, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        yield base, prom_dir
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        assert proc.returncode is not None, stderr


def test_every_scrape_counts_the_requests_of_both_workers(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, prom_dir = server
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sent = 0
    # A fresh connection per request: the kernel hands them to either worker.
    while sent < 400:
        for _ in range(10):
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            sent += 1
        per_worker = per_worker_healthz(prom_dir, scratch)
        if sent >= 20 and len(per_worker) == 2 and all(per_worker.values()):
            break
    per_worker = per_worker_healthz(prom_dir, scratch)
    assert len(per_worker) == 2, per_worker
    assert all(per_worker.values()), f"one worker took all {sent} requests: {per_worker}"
    assert sum(per_worker.values()) == sent

    # Whichever worker answers the scrape, it reports the sum.
    for _ in range(6):
        body = httpx.get(f"{base}/metrics", headers=SCRAPER, timeout=5).content
        got = samples(body)
        assert got[("lomuz_http_requests_total", HEALTHZ)] == sent
        assert got[("lomuz_http_request_duration_seconds_count",
                    (("method", "GET"), ("route", "/healthz")))] == sent
        builds = [k for k in got if k[0] == "lomuz_control_build_info"]
        assert len(builds) == 1 and got[builds[0]] == 1
        worker_pids = {
            dict(labels)["pid"] for name, labels in got if name == "process_cpu_seconds_total"
        }
        assert worker_pids == {str(pid) for pid in per_worker}
