"""Metrics: series exposed after real requests through a Falcon app, and multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import falcon
import falcon.inspect
import falcon.testing
import pytest

import control_api
from control_api.metrics import Metrics, ProcessStats, parse_proc_stat, route_label
from tests.control_api.conftest import METRICS_TOKEN, Api
from tests.control_api.metrics.helpers import samples


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
    metrics.manifest_served("delta", shared=True)
    metrics.manifest_served("full", shared=True)
    metrics.plays_ingested(7)
    metrics.plays_ingested(0)
    got = samples(metrics.render({})[0])
    assert got[("lomuz_manifests_served_total", (("kind", "not_modified"),))] == 2
    assert got[("lomuz_manifests_served_total", (("kind", "delta"),))] == 2
    assert got[("lomuz_manifests_served_total", (("kind", "full"),))] == 1
    assert got[("lomuz_manifests_shared_total", (("kind", "delta"),))] == 1
    assert got[("lomuz_manifests_shared_total", (("kind", "full"),))] == 1
    assert got[("lomuz_plays_ingested_total", ())] == 7


def test_bad_values_are_refused(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="manifest kind"):
        metrics.manifest_served("partial")
    with pytest.raises(ValueError, match=">= 0"):
        metrics.plays_ingested(-1)
    with pytest.raises(ValueError, match="metric name"):
        metrics.render({"devices online": 1.0})
    with pytest.raises(ValueError, match="SCRAPE_GAUGES"):
        metrics.render({"lomuz_devices_sleeping": 1.0})
    got = samples(metrics.render({})[0])
    assert got[("lomuz_plays_ingested_total", ())] == 0


def test_scrape_time_gauges_have_real_help_and_no_total_suffix(metrics: Metrics) -> None:
    body, _ = metrics.render({"lomuz_devices": 12, "lomuz_devices_online": 9.0})
    got = samples(body)
    assert got[("lomuz_devices", ())] == 12
    assert got[("lomuz_devices_online", ())] == 9
    assert b"lomuz_devices_total" not in body
    assert b"# TYPE lomuz_devices gauge" in body
    assert b"# TYPE lomuz_devices_online gauge" in body
    assert b"computed at scrape time)." not in body  # the old placeholder HELP


def test_every_help_text_is_written_out(metrics: Metrics) -> None:
    metrics.observe_request("/healthz", "GET", 200, 0.001)
    body = metrics.render({"lomuz_devices": 1, "lomuz_devices_online": 1})[0].decode()
    helps = {
        line.split()[2]: line.split(" ", 3)[3]
        for line in body.splitlines()
        if line.startswith("# HELP")
    }
    assert "lomuz_http_requests_total" in helps
    for name, text in helps.items():
        assert len(text.split()) >= 4, (name, text)
        assert text.rstrip(".") != name, name


def test_build_info_and_process_metrics(metrics: Metrics) -> None:
    got = samples(metrics.render({})[0])
    assert got[("lomuz_control_build_info", (("version", control_api.__version__),))] == 1
    pid = (("pid", str(os.getpid())),)
    assert got[("process_cpu_seconds_total", pid)] > 0
    assert got[("process_resident_memory_bytes", pid)] > 1_000_000
    assert got[("process_open_fds", pid)] >= 3
    started = got[("process_start_time_seconds", pid)]
    # this pytest process started before now, and not days ago
    assert time.time() - 86_400 < started <= time.time()


def test_proc_stat_parsing_survives_parentheses_in_the_command_name() -> None:
    fields = ["S"] + ["0"] * 40
    fields[11], fields[12] = "250", "50"  # utime, stime (ticks)
    fields[19], fields[20], fields[21] = "1000", "123456", "10"  # starttime, vsize, rss pages
    raw = b"4242 (granian ) (worker)) " + " ".join(fields).encode()
    stats = parse_proc_stat(raw, ticks_per_s=100, page_bytes=4096, boot_time_s=1_700_000_000)
    assert stats == ProcessStats(
        cpu_s=3.0, resident_bytes=40960, virtual_bytes=123456, start_time_s=1_700_000_010.0
    )


def test_route_labels_are_the_openapi_templates() -> None:
    documented = {"/v1/devices/{}": "/v1/devices/{id}", "/healthz": "/healthz"}
    assert route_label("/v1/devices/{device_id}", documented) == "/v1/devices/{id}"
    assert route_label("/healthz", documented) == "/healthz"
    assert route_label("/v1/things/{thing_id}", documented) == "/v1/things/{thing_id}"
    assert route_label(None, documented) == "unmatched"
    assert route_label("", documented) == "unmatched"


def test_every_route_of_the_app_is_labelled_by_its_openapi_path(api: Api) -> None:
    """A route added to create_app without OpenAPI docs (or renamed) fails here."""
    from control_api.openapi import build_openapi
    from control_api.panel.routes import is_panel_path

    paths = set(build_openapi()["paths"])
    metrics = api.app.deps.metrics
    templates = [route.path for route in falcon.inspect.inspect_routes(api.app)]
    assert len(templates) >= 15
    for template in templates:
        if is_panel_path(template):  # HTML pages of the panel, not operations of the API
            continue
        assert metrics.route_label(template) in paths, template
    token = api.tenant()
    device_id, _ = api.device(token)
    assert api.call("GET", f"/v1/devices/{device_id}", token).status_code == 200
    assert api.call("GET", "/v1/devices/nope", token).status_code == 404
    got = samples(api.call("GET", "/metrics", METRICS_TOKEN).content)
    ok = (("method", "GET"), ("route", "/v1/devices/{id}"), ("status", "200"))
    missing = (("method", "GET"), ("route", "/v1/devices/{id}"), ("status", "404"))
    assert got[("lomuz_http_requests_total", ok)] == 1
    assert got[("lomuz_http_requests_total", missing)] == 1
    assert not any("device_id" in str(labels) for _, labels in got)


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
        sys.stdout.buffer.write(m.render({"lomuz_devices": 3})[0])
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
    assert got[("lomuz_devices", ())] == 3
    # one build-info series whatever the number of processes (multiprocess_mode="max")
    builds = [k for k in got if k[0] == "lomuz_control_build_info"]
    assert builds == [("lomuz_control_build_info", (("version", control_api.__version__),))]
    assert got[builds[0]] == 1
    # the rendering process's own process metrics, and none for the exited writers
    pids = {dict(labels)["pid"] for name, labels in got if name == "process_cpu_seconds_total"}
    assert len(pids) == 1


SET_TOO_LATE = textwrap.dedent(
    """
    import os, sys
    import prometheus_client
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
    from control_api.metrics import Metrics
    try:
        Metrics()
    except RuntimeError as exc:
        print(exc)
    """
)


def test_multiprocess_dir_set_after_import_is_refused(tmp_path: Path) -> None:
    """The field bug: values kept per process while /metrics read the (empty) directory."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", SET_TOO_LATE, str(tmp_path)],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert "set after prometheus_client was imported" in done.stdout
