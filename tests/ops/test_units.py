"""The systemd units: what the field relies on, and systemd's own verdict on them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import UNITS, parse_unit, require_tool

PLAYER = UNITS / "lomuz-player.service"
CONTROL = UNITS / "lomuz-control.service"
# Ceilings on `systemd-analyze security` exposure (0 best, 10 worst); the
# figures at the time of writing are in docs/OPERATIONS.md.
MAX_EXPOSURE = {PLAYER: 2.0, CONTROL: 1.5}


def first(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= missing"
    return values[-1]


def test_player_is_a_notify_service_with_a_watchdog_that_restarts() -> None:
    unit = parse_unit(PLAYER)
    assert first(unit, "Service", "Type") == "notify"
    assert first(unit, "Service", "NotifyAccess") == "main"
    assert first(unit, "Service", "WatchdogSec") == "30s"
    assert first(unit, "Service", "Restart") == "always"
    assert first(unit, "Service", "RestartPreventExitStatus") == "78"
    assert int(first(unit, "Unit", "StartLimitBurst")) > 1
    assert first(unit, "Unit", "StartLimitIntervalSec").rstrip("s").isdigit()
    assert first(unit, "Service", "ExecStart") == "/opt/lomuz/player/bin/lomuz-player run"


def test_player_runs_as_its_own_user_with_sound_and_video_access() -> None:
    service = parse_unit(PLAYER)["Service"]
    assert service["User"] == ["lomuz"]
    assert set(service["SupplementaryGroups"][0].split()) == {"audio", "video"}
    assert service["StateDirectory"] == ["lomuz-player"]
    assert service["ConfigurationDirectory"] == ["lomuz"]
    assert "MemoryMax" in service


def test_player_never_waits_for_time_sync() -> None:
    text = PLAYER.read_text()
    directives = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("time-sync.target" in line for line in directives)
    unit = parse_unit(PLAYER)["Unit"]
    assert "network-online.target" in unit["Wants"][0]
    assert "sound.target" in unit["After"][0]


def test_player_hardening_keeps_the_sound_card_reachable() -> None:
    service = parse_unit(PLAYER)["Service"]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert key in service, key
    assert service["ProtectSystem"] == ["strict"]
    # These hide /dev/snd or the video devices: a silent shop.
    assert "PrivateDevices" not in service
    assert "DevicePolicy" not in service
    assert "PrivateUsers" not in service
    assert "AF_UNIX" in service["RestrictAddressFamilies"][0]  # PulseAudio, journald


def test_control_runs_granian_with_two_workers_after_migrating() -> None:
    service = parse_unit(CONTROL)["Service"]
    assert service["ExecStartPre"] == ["/opt/lomuz/control/bin/lomuz-control db upgrade"]
    exec_start = service["ExecStart"][0]
    # The ASGI entry point reads bodies under a deadline (granian's WSGI
    # interface has none): slow bodies cost sockets, not threads
    # (test_slow_bodies.py).
    assert exec_start.startswith("/opt/lomuz/control/bin/granian --interface asgi --loop uvloop")
    assert "--factory" in exec_start
    assert exec_start.endswith("control_api.asgi:create")
    assert "LOMUZ_HTTP_WORKERS=2" in service["Environment"]
    assert "--backpressure ${LOMUZ_HTTP_BACKPRESSURE}" in exec_start
    assert "--blocking-threads" not in exec_start
    assert "--http1-header-read-timeout 10000" in exec_start
    assert "LOMUZ_HTTP_BACKPRESSURE=1024" in service["Environment"]
    # 2 workers x 64 app threads, plus granian's and ffprobe's.
    assert int(service["TasksMax"][0]) >= 2 * 64 * 2
    assert int(service["LimitNOFILE"][0]) > 2 * 1024 + 1024
    assert service["EnvironmentFile"] == ["-/etc/lomuz/control.env"]
    assert service["RestartPreventExitStatus"] == ["78"]


def test_control_runs_as_the_static_user_that_owns_its_state_directory() -> None:
    service = parse_unit(CONTROL)["Service"]
    # A DynamicUser= gets its state directory re-chowned by any other unit that
    # names it; `lomuz-control` run as root becomes this user instead.
    assert "DynamicUser" not in service
    assert service["User"] == ["lomuz-control"]
    assert service["Group"] == ["lomuz-control"]
    assert service["StateDirectory"] == ["lomuz-control"]
    assert service["StateDirectoryMode"] == ["0750"]
    assert service["UMask"] == ["0077"]


def test_control_settings_live_in_the_env_file_only() -> None:
    service = parse_unit(CONTROL)["Service"]
    names = {assignment.partition("=")[0] for assignment in service["Environment"]}
    assert not names & {"LOMUZ_DATABASE_URL", "LOMUZ_MEDIA_DIR"}, "settings belong in control.env"
    # The unit's own commands get the file from systemd, not by reading it themselves.
    assert "LOMUZ_CONTROL_ENV=" in service["Environment"]
    shipped = (UNITS.parent / "packaging/control/control.env").read_text()
    for line in (
        "LOMUZ_DATABASE_URL=sqlite:////var/lib/lomuz-control/control.db",
        "LOMUZ_MEDIA_DIR=/var/lib/lomuz-control/media",
        "LOMUZ_HTTP_HOST=127.0.0.1",
        "LOMUZ_HTTP_PORT=8080",
        "LOMUZ_HTTP_WORKERS=2",
        "LOMUZ_HTTP_BACKPRESSURE=1024",
    ):
        assert line in shipped.splitlines(), line


def exec_paths(unit_path: Path) -> list[str]:
    service = parse_unit(unit_path)["Service"]
    commands = service.get("ExecStartPre", []) + service.get("ExecStart", [])
    return [command.split()[0].lstrip("-@:+!") for command in commands]


def make_root(tmp_path: Path, unit_path: Path) -> Path:
    """A file-system root holding systemd's own units, ours, and its commands.

    ``verify`` checks that every ExecStart binary exists. The real ones come
    from the .deb (the packaging test installs it and verifies against /); here
    the commands are empty executables at the same paths so that everything
    else in the unit is still checked by systemd itself.
    """
    root = tmp_path / "root"
    shutil.copytree(Path("/usr/lib/systemd/system"), root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(unit_path, root / "etc/systemd/system" / unit_path.name)
    for command in exec_paths(unit_path):
        stub = root / command.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def verify(root: Path, unit_name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "systemd-analyze",
            "verify",
            f"--root={root}",
            "--man=no",
            f"/etc/systemd/system/{unit_name}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("unit_path", [PLAYER, CONTROL], ids=lambda p: p.name)
def test_systemd_analyze_verify_is_clean(tmp_path: Path, unit_path: Path) -> None:
    require_tool("systemd-analyze")
    if not Path("/usr/lib/systemd/system/sysinit.target").exists():
        pytest.skip("systemd's unit files are not installed (package systemd)")
    result = verify(make_root(tmp_path, unit_path), unit_path.name)
    # verify exits 0 on unknown keys and unparsable values: any output is a finding.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """Proves the check above can fail: a typo and a missing command are reported."""
    require_tool("systemd-analyze")
    if not Path("/usr/lib/systemd/system/sysinit.target").exists():
        pytest.skip("systemd's unit files are not installed (package systemd)")
    root = make_root(tmp_path, PLAYER)
    installed = root / "etc/systemd/system/lomuz-player.service"
    installed.write_text(installed.read_text().replace("WatchdogSec=30s", "WatchdogSec=half"))
    (root / "opt/lomuz/player/bin/lomuz-player").unlink()
    result = verify(root, installed.name)
    assert "half" in result.stderr
    assert "lomuz-player is not executable" in result.stderr
    assert result.returncode != 0


@pytest.mark.parametrize("unit_path", [PLAYER, CONTROL], ids=lambda p: p.name)
def test_security_exposure_stays_low(unit_path: Path) -> None:
    require_tool("systemd-analyze")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--man=no", str(unit_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE[unit_path]
