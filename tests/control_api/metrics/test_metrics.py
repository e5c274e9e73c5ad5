"""Metrics: series exposed after real requests through a Falcon app, and multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest
from prometheus_client.parser import text_string_to_metric_families

from control_api.metrics import Metrics


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class Thing:
    def on_get(self, req: falcon.Request, resp: falcon.Response, thing_id: str) -> None:
        if thing_id == "missing":
            raise falcon.HTTPNotFound()
        resp.media = {"id": thing_id}


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> Metrics:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return Metrics()


def make_client(metrics: Metrics) -> falcon.testing.TestClient:
    app: falcon.App[Any, Any] = falcon.App(middleware=[metrics.middleware])
    app.add_route("/v1/things/{thing_id}", Thing())
    return falcon.testing.TestClient(app)


def test_requests_counted_by_route_template_method_and_status(metrics: Metrics) -> None:
    client = make_client(metrics)
    for thing_id in ("a", "b", "c"):
        assert client.simulate_get(f"/v1/things/{thing_id}").status_code == 200
    assert client.simulate_get("/v1/things/missing").status_code == 404
    assert client.simulate_get("/nowhere/at/all").status_code == 404
    client.simulate_request("TRACE", "/v1/things/a")

    body, content_type = metrics.render({})
    assert content_type.startswith("text/plain")
    got = samples(body)
    route = "/v1/things/{thing_id}"
    key = (("method", "GET"), ("route", route), ("status", "200"))
    assert got[("lomuz_http_requests_total", key)] == 3
    assert got[("lomuz_http_requests_total", (key[0], key[1], ("status", "404")))] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert got[("lomuz_http_requests_total", unmatched)] == 1
    # raw paths and odd methods never become label values
    assert not any("/v1/things/a" in str(k) or "TRACE" in str(k) for k in got)
    assert any(k[0] == "lomuz_http_requests_total" and ("method", "OTHER") in k[1] for k in got)
    latency = (("method", "GET"), ("route", route))
    assert got[("lomuz_http_request_duration_seconds_count", latency)] == 4  # 3 x 200, 1 x 404
    assert got[("lomuz_http_request_duration_seconds_sum", latency)] > 0


def test_manifest_and_plays_counters(metrics: Metrics) -> None:
    metrics.manifest_served("not_modified")
    metrics.manifest_served("not_modified")
    metrics.manifest_served("delta")
    metrics.plays_ingested(7)
    metrics.plays_ingested(0)
    got = samples(metrics.render({})[0])
    assert got[("lomuz_manifests_served_total", (("kind", "not_modified"),))] == 2
    assert got[("lomuz_manifests_served_total", (("kind", "delta"),))] == 1
    assert got[("lomuz_manifests_served_total", (("kind", "full"),))] == 0
    assert got[("lomuz_plays_ingested_total", ())] == 7


def test_bad_values_are_refused(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="manifest kind"):
        metrics.manifest_served("partial")
    with pytest.raises(ValueError, match=">= 0"):
        metrics.plays_ingested(-1)
    with pytest.raises(ValueError, match="metric name"):
        metrics.render({"devices online": 1.0})
    got = samples(metrics.render({})[0])
    assert got[("lomuz_plays_ingested_total", ())] == 0


def test_scrape_time_gauges(metrics: Metrics) -> None:
    body, _ = metrics.render({"lomuz_devices_total": 12, "lomuz_devices_online": 9.0})
    got = samples(body)
    assert got[("lomuz_devices_total", ())] == 12
    assert got[("lomuz_devices_online", ())] == 9
    assert b"# TYPE lomuz_devices_online gauge" in body


def test_each_instance_has_its_own_registry(metrics: Metrics) -> None:
    other = Metrics()
    metrics.plays_ingested(5)
    assert samples(other.render({})[0])[("lomuz_plays_ingested_total", ())] == 0


WORKER = textwrap.dedent(
    """
    import sys
    from control_api.metrics import Metrics
    m = Metrics()
    m.plays_ingested(int(sys.argv[1]))
    m.manifest_served("full")
    m.observe_request("/v1/device/manifest", "GET", 304, 0.001)
    if len(sys.argv) > 2:
        sys.stdout.buffer.write(m.render({"lomuz_devices_total": 3})[0])
    """
)


def test_multiprocess_mode_aggregates_workers(tmp_path: Path) -> None:
    """Two worker processes write; a third renders the sum (PROMETHEUS_MULTIPROC_DIR)."""
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}
    for n in (4, 6):
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True, timeout=60)
    done = subprocess.run(
        [sys.executable, "-c", WORKER, "1", "render"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    got = samples(done.stdout)
    assert got[("lomuz_plays_ingested_total", ())] == 11
    assert got[("lomuz_manifests_served_total", (("kind", "full"),))] == 3
    key = (("method", "GET"), ("route", "/v1/device/manifest"), ("status", "304"))
    assert got[("lomuz_http_requests_total", key)] == 3
    assert got[("lomuz_devices_total", ())] == 3
