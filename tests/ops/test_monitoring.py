"""The shipped Grafana dashboard and Prometheus rules against what is really exposed.

Both expositions are generated here: the control API's /metrics through
create_app (after a few requests, so labelled series exist) and the player's
textfile through ``render(PlayerMetrics(...))``. Every metric name that a
dashboard or rule expression uses must be one of their sample names, and
promtool must accept the rules and both expositions (it fails, not skips, in
CI: LOMUZ_CI=1).
"""

from __future__ import annotations

import getpass
import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML, via openapi-spec-validator (dev extra) -> jsonschema-path
from prometheus_client.parser import text_string_to_metric_families

from player.adapters.textfile_metrics import (
    DEBIAN_TEXTFILE_DIR,
    TEXTFILE_NAME,
    PlayerMetrics,
    render,
    textfile_dir_problem,
    write_textfile,
)
from player.settings import load_settings
from tests.control_api.conftest import METRICS_TOKEN, make_api
from tests.ops.conftest import REPO, require_tool

MONITORING = REPO / "packaging/monitoring"
DASHBOARD = MONITORING / "grafana/lomuz-fleet.json"
RULES = MONITORING / "prometheus/lomuz-alerts.yml"

# PromQL words that look like metric names: keywords and aggregation modifiers.
_KEYWORDS = frozenset({
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan",
})  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (a small tokenizer, not a parser)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables ($__rate_interval)
    expr = re.sub(r"\{[^{}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery selectors
    # label lists after by/without/on/ignoring/group_left/group_right
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = match.group(0)
        following = expr[match.end() :].lstrip()
        if word.lower() in _KEYWORDS or following.startswith("("):
            continue  # a keyword or a function call
        before = expr[: match.start()]
        if re.search(r"\d$", before):
            continue  # a duration or number suffix (5m, 1e3)
        names.add(word)
    return names


def test_the_tokenizer_finds_names_and_only_names() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(lomuz_http_request_duration_seconds_"
        'bucket{route=~"/v1/.*", status!="5xx"}[$__rate_interval]))) > 0.5 '
        "and on (instance) lomuz_up_thing offset 5m or vector(0) unless time() - x_seconds > 1e3"
    )
    assert metric_names(expr) == {
        "lomuz_http_request_duration_seconds_bucket",
        "lomuz_up_thing",
        "x_seconds",
    }


def dashboard_exprs() -> list[str]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[str]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield target["expr"]
            yield from walk(panel.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def api_exposition(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("api")
    env = {
        "LOMUZ_DATABASE_URL": f"sqlite:///{tmp / 'control.db'}",
        "LOMUZ_MEDIA_DIR": str(tmp / "media"),
        "LOMUZ_METRICS_TOKEN": METRICS_TOKEN,
    }
    apis = make_api(env)
    api = next(apis)
    try:
        token = api.tenant()
        _, device_token = api.device(token)
        assert api.call("GET", "/v1/devices", token).status_code == 200
        assert api.call("GET", "/v1/device/manifest", device_token).status_code == 200
        assert api.call("GET", "/nowhere").status_code == 404
        scrape = api.call("GET", "/metrics", METRICS_TOKEN)
        assert scrape.status_code == 200
        body: bytes = scrape.content
        return body
    finally:
        apis.close()


@pytest.fixture(scope="module")
def player_exposition() -> bytes:
    at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    return render(PlayerMetrics(
        playing=True, tier="playlist", last_sync_success_at=at, last_sync_attempt_at=at,
        sync_failing=False, outbox_pending_plays=2, outbox_dropped_plays_total=0,
        cache_bytes=10, cache_files=1, download_failures_total=0, pending_downloads=0,
        plays_total=7, clock_offset_s=0.1, clock_trusted=True, quarantined_assets=0,
        storage_full=False, started_at=at, taken_at=at, version="0.1.0",
    ))  # fmt: skip


def sample_names(body: bytes) -> set[str]:
    return {
        s.name for family in text_string_to_metric_families(body.decode()) for s in family.samples
    }


def test_every_metric_in_the_dashboard_and_rules_is_exposed(
    api_exposition: bytes, player_exposition: bytes
) -> None:
    exposed = sample_names(api_exposition) | sample_names(player_exposition)
    exprs = dashboard_exprs() + rule_exprs()
    assert len(exprs) >= 20
    used = set().union(*(metric_names(e) for e in exprs))
    assert {"lomuz_http_requests_total", "lomuz_player_plays_total", "lomuz_devices"} <= used
    assert used - exposed == set(), f"not exposed by the API or the player: {used - exposed}"


def test_the_dashboard_covers_the_fleet_and_the_api() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "lomuz-fleet"
    assert dashboard.get("id") is None  # provisionable: Grafana assigns the id
    names = set().union(*(metric_names(e) for e in dashboard_exprs()))
    for needed in (
        "lomuz_http_requests_total",
        "lomuz_http_request_duration_seconds_bucket",
        "lomuz_devices_online",
        "lomuz_player_plays_total",
        "lomuz_player_storage_full",
        "lomuz_player_clock_trusted",
        "lomuz_player_sync_failing",
    ):
        assert needed in names, needed
    # every panel queries the datasource chosen in the variable, not a hard-coded uid
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_rules_cover_the_documented_alerts() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {
        "LomuzBoxesOffline",
        "LomuzPlayerDown",
        "LomuzNoPlays",
        "LomuzStorageFull",
        "LomuzClockUntrusted",
        "LomuzSyncFailing",
        "LomuzApiErrorRate",
    } <= alerts


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("which", ["api_exposition", "player_exposition"])
def test_promtool_lints_both_expositions_clean(which: str, request: pytest.FixtureRequest) -> None:
    body: bytes = request.getfixturevalue(which)
    result = promtool("check", "metrics", stdin=body)
    # promtool prints lint findings (e.g. "counter metrics should have _total suffix")
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", result.stderr


def test_promtool_check_metrics_can_fail() -> None:
    """The old gauge name: proves the check above would catch it."""
    result = promtool(
        "check",
        "metrics",
        stdin=b"# HELP lomuz_devices_total x\n# TYPE lomuz_devices_total "
        b"gauge\nlomuz_devices_total 3\n",
    )
    assert result.returncode != 0
    assert b"_total" in result.stdout + result.stderr


def postinst_textfile_lines() -> str:
    """The postinst's textfile setup, from its textfile_dir= line to the symlink's fi."""
    lines = (REPO / "packaging/player/postinst").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "textfile_dir=" in line)
    end = next(i for i in range(start, len(lines)) if "ln -s" in lines[i]) + 1
    assert lines[end].strip() == "fi"
    return "\n".join(lines[start : end + 1])


def test_postinst_layout_lets_the_player_write_and_node_exporter_read(tmp_path: Path) -> None:
    """The postinst lines run under tmp_path (as the current user instead of lomuz)."""
    user = getpass.getuser()
    script = (
        postinst_textfile_lines()
        .replace("/var/lib/prometheus", str(tmp_path / "prometheus"))
        .replace("lomuz:lomuz", f"{user}:")
        .replace("-o lomuz -g lomuz", f"-o {user}")
    )
    for _ in range(2):  # a reinstall changes nothing
        done = subprocess.run(["sh", "-euc", script], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    collector_dir = tmp_path / "prometheus/node-exporter"
    link = collector_dir / TEXTFILE_NAME
    assert link.is_symlink()
    assert sorted(p.name for p in collector_dir.iterdir()) == ["lomuz-player", TEXTFILE_NAME]
    # what node_exporter reads before the daemon's first write: a clean "down"
    assert sample_values(link.read_bytes()) == {"lomuz_player_up": 0.0}
    textfile_dir = collector_dir / "lomuz-player"
    assert str(DEBIAN_TEXTFILE_DIR).endswith("node-exporter/lomuz-player")
    assert textfile_dir_problem(textfile_dir) is None
    # the daemon's writer (temp file + rename) in its own directory shows through the link
    write_textfile(textfile_dir, PlayerMetrics(
        playing=False, tier=None, last_sync_success_at=None, last_sync_attempt_at=None,
        sync_failing=False, outbox_pending_plays=0, outbox_dropped_plays_total=0,
        cache_bytes=0, cache_files=0, download_failures_total=0, pending_downloads=0,
        plays_total=3, clock_offset_s=0.0, clock_trusted=True, quarantined_assets=0,
        storage_full=False, started_at=datetime.now(UTC), taken_at=datetime.now(UTC),
    ))  # fmt: skip
    assert sample_values(link.read_bytes())["lomuz_player_plays_total"] == 3
    assert sorted(p.name for p in textfile_dir.iterdir()) == [TEXTFILE_NAME]


def test_shipped_player_settings_use_the_postinst_directory() -> None:
    shipped = REPO / "packaging/player/player.toml"
    assert Path(tomllib.loads(shipped.read_text())["metrics"]["textfile_dir"]) == (
        DEBIAN_TEXTFILE_DIR
    )
    assert load_settings(shipped, {}).metrics.textfile_dir == DEBIAN_TEXTFILE_DIR
    unit = (REPO / "systemd/lomuz-player.service").read_text()
    assert "ReadWritePaths=-/var/lib/prometheus/node-exporter" in unit


def sample_values(body: bytes) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if not s.labels
    }
