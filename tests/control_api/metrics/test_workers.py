"""/metrics under the unit's real server: granian with 2 workers, counted as one.

The unit's own ExecStartPre/ExecStart and Environment= lines run on loopback
(paths swapped for this checkout's venv), PROMETHEUS_MULTIPROC_DIR pointing at
an empty directory as the unit's RuntimeDirectory= would. The field bug was a
scrape seeing only the worker that answered it (12 requests shown as 6).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.control_api.metrics.helpers import samples
from tests.ops.conftest import (
    UNITS,
    control_unit_environ,
    control_unit_environment,
    control_unit_running,
    parse_unit,
)

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
    unit = control_unit_environment()
    assert unit["LOMUZ_HTTP_WORKERS"] == "2"
    assert unit["PROMETHEUS_MULTIPROC_DIR"] == "/run/lomuz-control/metrics"
    service = parse_unit(UNITS / "lomuz-control.service")["Service"]
    assert "lomuz-control/metrics" in service["RuntimeDirectory"][0].split()
    environ = control_unit_environ(tmp_path, LOMUZ_METRICS_TOKEN=TOKEN)
    prom_dir = Path(environ["PROMETHEUS_MULTIPROC_DIR"])  # empty, as RuntimeDirectory= is
    base = f"http://127.0.0.1:{environ['LOMUZ_HTTP_PORT']}"
    with control_unit_running(environ) as proc:
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
        assert (
            got[
                (
                    "lomuz_http_request_duration_seconds_count",
                    (("method", "GET"), ("route", "/healthz")),
                )
            ]
            == sent
        )
        builds = [k for k in got if k[0] == "lomuz_control_build_info"]
        assert len(builds) == 1 and got[builds[0]] == 1
        worker_pids = {
            dict(labels)["pid"] for name, labels in got if name == "process_cpu_seconds_total"
        }
        assert worker_pids == {str(pid) for pid in per_worker}
