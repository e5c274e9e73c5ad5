"""The operator-facing scripts: they parse, explain themselves and refuse bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import REPO

MAINTAINER_SCRIPTS = sorted((REPO / "packaging").glob("*/post*")) + sorted(
    (REPO / "packaging").glob("*/prerm")
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("script", MAINTAINER_SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_maintainer_scripts_are_posix_sh_with_set_e(script: Path) -> None:
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -e\n" in text
    assert script.stat().st_mode & 0o111, "must be executable"
    result = run("sh", "-n", str(script))
    assert result.returncode == 0, result.stderr


def test_every_package_has_its_maintainer_scripts_and_conffiles() -> None:
    for name, conffile in (("player", "player.toml"), ("control", "control.env")):
        folder = REPO / "packaging" / name
        for required in ("postinst", "prerm", "postrm", "control.in", "lintian-overrides"):
            assert (folder / required).is_file(), f"{name}/{required}"
        listed = (folder / "conffiles").read_text().split()
        assert listed == [f"/etc/lomuz/{conffile}"]
        assert (folder / conffile).is_file()


def test_default_player_settings_are_valid_toml_with_the_documented_data_dir() -> None:
    import tomllib

    settings = tomllib.loads((REPO / "packaging/player/player.toml").read_text())
    assert settings["data_dir"] == "/var/lib/lomuz-player"
    assert settings["playback"]["backend"] == "vlc"


def test_player_postinst_enables_but_only_talks_to_a_running_systemd() -> None:
    text = (REPO / "packaging/player/postinst").read_text()
    assert "deb-systemd-helper enable" in text
    assert "[ -d /run/systemd/system ]" in text
    assert "adduser --system" in text


@pytest.mark.parametrize("script", ["build-debs", "provision-box"])
def test_scripts_parse_and_print_help(script: str) -> None:
    path = REPO / "scripts" / script
    assert run("bash", "-n", str(path)).returncode == 0
    result = run(str(path), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout or "scripts/build-debs" in result.stdout


def test_build_debs_rejects_an_unknown_package_name() -> None:
    result = run(str(REPO / "scripts/build-debs"), "--only", "speaker")
    assert result.returncode == 2
    assert "speaker" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--api URL is required"),
        (("--api", "https://control.example"), "--code-stdin (or --code CODE) is required"),
        (("--api", "control.example", "--code", "X"), "http(s) URL"),
        (("--speed", "11"), "unknown argument: --speed"),
    ],
)
def test_provision_box_names_the_problem_in_its_arguments(
    args: tuple[str, ...], message: str
) -> None:
    result = run(str(REPO / "scripts/provision-box"), *args)
    assert result.returncode == 2
    assert message in result.stderr
