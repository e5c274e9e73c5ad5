"""The shipped packages installed on Debian 12 and booted under real systemd must play.

A new operator's path, step by step (docs/OPERATIONS.md): the two `.deb`s
installed with `apt-get install --no-install-recommends` into a booted
bookworm root (tests/ops/bootroot.py), the control API started by its unit
with its default settings and a tenant made with the documented admin
command, the player enrolled with `echo CODE | runuser -u lomuz --
lomuz-player enroll --code-stdin` and `systemctl enable --now`. ALSA's
default PCM in the root is a `file` plugin, so what a real box would send to
its speaker lands in a WAV file this test reads: the schedule's tone must be
in it.

Then the same box loses its sound card (the ALSA configuration is removed,
so the default PCM opens nothing): `doctor` must fail its audio check and no
play may be recorded as completed.

Runs with LOMUZ_BOOT_TEST=1 (CI sets it); needs root, debootstrap and
systemd-nspawn. The first run downloads a minimal root (cached).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.bootbox import API, CAPTURE, TONE_HZ, Box, provisioned_box, tone_share, until
from tests.ops.conftest import require_tool

pytestmark = [
    pytest.mark.slow,
    pytest.mark.boot,
    pytest.mark.timeout(1800),  # the first run builds the root and the packages
    pytest.mark.skipif(
        os.environ.get("LOMUZ_BOOT_TEST") != "1",
        reason="set LOMUZ_BOOT_TEST=1 to boot the packages under systemd (minutes)",
    ),
]


@pytest.fixture(scope="module")
def box(debs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    require_tool("debootstrap")
    require_tool("systemd-nspawn")
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with provisioned_box(debs, tmp_path_factory.mktemp("boot"), arch) as provisioned:
        yield provisioned


def test_both_units_are_active_and_the_player_never_restarted(box: Box) -> None:
    # "After a minute" of the player running.
    time.sleep(max(0.0, 60 - (time.monotonic() - box.figures["player_enabled_mono"])))
    for unit in ("lomuz-control", "lomuz-player"):
        state = box.machine.run("systemctl", "is-active", unit, check=False).stdout.strip()
        assert state == "active", f"{unit}: {state}\n{box.machine.journal('-u', unit)}"
    restarts = box.machine.run("systemctl", "show", "-p", "NRestarts", "--value", "lomuz-player")
    assert restarts.stdout.strip() == "0", box.machine.journal("-u", "lomuz-player")


def test_enroll_on_a_running_box_syncs_without_a_restart(box: Box) -> None:
    waited = box.figures.get("enroll_to_first_sync_s")
    assert waited, "the running daemon never synced after enroll"
    assert waited < 30


def test_a_completed_playlist_play_reaches_the_api(box: Box) -> None:
    def completed() -> list[dict[str, Any]]:
        return [
            p
            for p in box.api_plays()
            if p["source"] == "playlist"
            and p["outcome"] == "completed"
            and p["asset_id"] == box.setup["asset_id"]
        ]

    found = until(completed, 150, every_s=5)
    assert found, f"no completed playlist play at the API: {box.api_plays()}"


def test_the_tone_reached_alsa(box: Box) -> None:
    capture = box.machine.root / CAPTURE.lstrip("/")
    share = until(lambda: capture.is_file() and tone_share(capture, TONE_HZ) > 0.5, 60, 2)
    assert share, f"the {TONE_HZ:g} Hz tone is not in {CAPTURE}"


def test_doctor_reports_no_failure(box: Box) -> None:
    report = box.doctor()
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed == [], failed
    assert report["exit_code"] == 0


def test_a_planted_problem_shows_once_in_the_warning_journal(box: Box) -> None:
    # The API goes away; two syncs fail. One warning entry, not one per attempt.
    since = box.machine.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    box.machine.run("systemctl", "stop", "lomuz-control")
    try:
        for _ in range(2):
            box.machine.run("lomuz-player", "sync", check=False, timeout_s=300)
        entries = box.machine.journal(
            "-u", "lomuz-player", "-p", "warning", "--since", since, "-o", "cat"
        ).splitlines()
    finally:
        box.machine.run("systemctl", "start", "lomuz-control")
        box.director("wait-healthy")
    failing = [e for e in entries if "sync" in e and "failing" in e]
    assert len(failing) == 1, entries
    assert API.removeprefix("http://") in failing[0], failing[0]


def test_metrics_count_every_worker_and_pass_promtool(box: Box) -> None:
    promtool = require_tool("promtool")

    def healthz_requests(text: str) -> float:
        total = 0.0
        for line in text.splitlines():
            if line.startswith("lomuz_http_requests_total{") and 'route="/healthz"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    # What OPERATIONS.md tells the operator to hand Prometheus (credentials_file).
    token = box.machine.run("cat", "/etc/lomuz/metrics.token").stdout.strip()
    before = healthz_requests(box.director("metrics", token))
    box.director("hits", "40")
    text = box.director("metrics", token)
    assert healthz_requests(text) - before == 40
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_without_a_sound_device_doctor_fails_and_no_play_is_completed(box: Box) -> None:
    machine = box.machine
    machine.run("rm", "/etc/asound.conf")
    since = machine.run("date", "+%Y-%m-%dT%H:%M:%SZ", "-u").stdout.strip()
    machine.run("systemctl", "restart", "lomuz-player")
    time.sleep(20)
    report = box.doctor()
    audio = [c for c in report["checks"] if c["name"] == "audio"]
    assert audio, report
    assert audio[0]["status"] == "fail", audio
    assert report["exit_code"] != 0
    after = [p for p in box.local_plays() if p["started_at"] >= since]
    assert after, "nothing was tried after the restart"
    assert all(p["outcome"] != "completed" for p in after), after
    assert any(p["outcome"] == "error" for p in after), after
    lines = machine.journal("-u", "lomuz-player", "--since", since.replace("T", " ")[:-1])
    assert "ALSA lib" not in lines
    assert len(lines.splitlines()) < 30, lines
