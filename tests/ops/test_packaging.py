"""Build the .debs, check them with dpkg-deb and lintian, install the player one.

Runs only with LOMUZ_BUILD_DEBS=1 (CI sets it): it takes a few minutes, needs
root, and installs lomuz-player on this machine (purged again at the end when
it was not installed before).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import REPO, require_tool

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("LOMUZ_BUILD_DEBS") != "1", reason="set LOMUZ_BUILD_DEBS=1 to build .debs"
    ),
]

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def run(*args: str, timeout_s: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def field(deb: Path, name: str) -> str:
    return run("dpkg-deb", "--field", str(deb), name).stdout.strip()


@pytest.mark.timeout(900)
def test_player_deb_metadata_and_contents(debs: dict[str, Path]) -> None:
    deb = debs["player"]
    info = run("dpkg-deb", "--info", str(deb)).stdout
    assert "Package: lomuz-player" in info
    assert field(deb, "Version") == VERSION
    depends = field(deb, "Depends")
    # libvlc-bin: its trigger writes the plugins cache (without it libvlc
    # loads all ~350 plugins at every start: +40 MiB, docs/BENCHMARKS.md)
    for needed in ("python3 (>= 3.11)", "libvlc5", "libvlc-bin", "vlc-plugin-base", "adduser"):
        assert needed in depends
    assert run("dpkg-deb", "--ctrl-tarfile", str(deb)).returncode == 0
    contents = run("dpkg-deb", "--contents", str(deb)).stdout
    for path in (
        "./lib/systemd/system/lomuz-player.service",
        "./etc/lomuz/player.toml",
        "./opt/lomuz/player/bin/lomuz-player",
        "./opt/lomuz/player/pyvenv.cfg",
        "./usr/bin/lomuz-player -> /opt/lomuz/player/bin/lomuz-player",
        "./usr/share/doc/lomuz-player/copyright",
        "./usr/share/man/man1/lomuz-player.1.gz",
    ):
        assert path in contents, path
    assert "__pycache__" not in contents  # compiled on the target by postinst
    assert "/tmp/" not in contents


@pytest.mark.timeout(900)
def test_player_deb_holds_the_player_alone(debs: dict[str, Path]) -> None:
    # Built from a player-only wheel (scripts/build-debs): no API code, no API
    # dependencies, no API command on a shop box.
    contents = run("dpkg-deb", "--contents", str(debs["player"])).stdout
    api_only = (
        "control_api",
        "/site-packages/falcon",
        "lomuz-control",
        "/site-packages/granian",
        "/site-packages/gunicorn",
        "/site-packages/psycopg",
    )
    for pattern in api_only:
        found = [line for line in contents.splitlines() if pattern in line]
        assert found == [], found[:5]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["player", "control"])
def test_both_debs_carry_every_module_of_the_shared_rules(debs: dict[str, Path], name: str) -> None:
    # Both sides import lomuz_rules (DESIGN.md §8); each venv needs its own copy.
    contents = run("dpkg-deb", "--contents", str(debs[name])).stdout
    shipped = {
        line.rsplit("/site-packages/", 1)[1]
        for line in contents.splitlines()
        if "/site-packages/lomuz_rules/" in line and not line.endswith("/")
    }
    wanted = {
        str(path.relative_to(REPO))
        for path in (REPO / "lomuz_rules").rglob("*")
        if path.suffix == ".py" or path.name == "py.typed"
    }
    assert wanted, "no lomuz_rules in the source tree"
    assert wanted <= shipped, sorted(wanted - shipped)


@pytest.mark.timeout(900)
def test_control_deb_ships_granian_gunicorn_psycopg_and_a_private_env_file(
    debs: dict[str, Path],
) -> None:
    deb = debs["control"]
    assert field(deb, "Package") == "lomuz-control"
    # ffprobe checks every upload's content and measures its duration.
    assert "ffmpeg" in field(deb, "Depends")
    contents = run("dpkg-deb", "--contents", str(deb)).stdout
    assert "-rw------- root/root" in next(
        line for line in contents.splitlines() if line.endswith("./etc/lomuz/control.env")
    )
    for path in (
        "./lib/systemd/system/lomuz-control.service",
        "./opt/lomuz/control/bin/granian",
        "./opt/lomuz/control/bin/gunicorn",
        "./opt/lomuz/control/bin/lomuz-control",
        "/site-packages/psycopg/",
    ):
        assert path in contents, path


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["player", "control"])
def test_lintian_finds_no_errors_or_unexplained_warnings(debs: dict[str, Path], name: str) -> None:
    require_tool("lintian")
    result = run(
        "lintian", "--fail-on", "error,warning", str(debs[name]), timeout_s=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def installed_version(package: str) -> str | None:
    result = run("dpkg-query", "-W", "-f=${Status} ${Version}", package, check=False)
    prefix = "install ok installed "
    return result.stdout[len(prefix) :] if result.stdout.startswith(prefix) else None


@pytest.fixture(scope="module")
def installed_player(debs: dict[str, Path]) -> Iterator[Path]:
    was_installed = installed_version("lomuz-player") is not None
    result = run("dpkg", "-i", str(debs["player"]), timeout_s=300, check=False)
    if result.returncode != 0:  # missing dependencies: let apt resolve them
        run("apt-get", "-f", "install", "-y", "-q", timeout_s=600)
    assert installed_version("lomuz-player") == VERSION
    yield debs["player"]
    if not was_installed:
        run("dpkg", "--purge", "lomuz-player", timeout_s=300)
        assert installed_version("lomuz-player") is None
        assert not Path("/var/lib/lomuz-player").exists(), "purge keeps the data dir"


@pytest.mark.timeout(900)
def test_installed_player_runs_from_its_venv(installed_player: Path) -> None:
    result = run("/usr/bin/lomuz-player", "--version")
    assert VERSION in result.stdout + result.stderr
    # The service's own user can run it too (venv readable, bytecode compiled).
    as_lomuz = run("runuser", "-u", "lomuz", "--", "/usr/bin/lomuz-player", "--version")
    assert VERSION in as_lomuz.stdout + as_lomuz.stderr
    assert list(Path("/opt/lomuz/player/lib").rglob("player/cli/__pycache__/__init__.*.pyc"))


@pytest.mark.timeout(900)
def test_installed_player_imports_every_module_and_declares_no_api(installed_player: Path) -> None:
    # What the player imports must be in its venv, now that the API's
    # dependencies are not there to cover for a missing one.
    script = (
        "import importlib, pkgutil, player\n"
        "print(player.__file__)\n"
        "import lomuz_rules\n"
        "for package in (player, lomuz_rules):\n"
        "    prefix = package.__name__ + '.'\n"
        "    for m in pkgutil.walk_packages(package.__path__, prefix):\n"
        "        if '.migrations' not in m.name:\n"
        "            importlib.import_module(m.name)\n"
        "from importlib import metadata\n"
        "d = metadata.distribution('lomuz-edge')\n"
        "print(sorted(e.name for e in d.entry_points))\n"
        "print(d.requires)\n"
    )
    # -I: not the source tree in the current directory, as on the box.
    result = run("/opt/lomuz/player/bin/python3", "-I", "-c", script)
    where, scripts, requires = result.stdout.splitlines()
    assert where.startswith("/opt/lomuz/player/lib/"), where
    assert scripts == "['lomuz-player']"
    assert "falcon" not in requires
    assert "prometheus-client" in requires


@pytest.mark.timeout(900)
def test_installed_player_doctor_reports_json(installed_player: Path) -> None:
    usage = run("/usr/bin/lomuz-player", "--help").stdout
    if "doctor" not in usage:
        pytest.skip("this build of lomuz-player has no doctor command yet")
    result = run("/usr/bin/lomuz-player", "doctor", "--json", check=False)
    assert result.returncode in (0, 1), result.stderr  # 1: some check failed on this box
    report = json.loads(result.stdout)
    assert report


@pytest.mark.timeout(900)
def test_install_creates_user_state_dir_and_enables_the_unit(installed_player: Path) -> None:
    user = pwd.getpwnam("lomuz")
    assert user.pw_uid < 1000, "a system user"
    for group in ("audio", "video"):
        assert "lomuz" in grp.getgrnam(group).gr_mem, group
    state = Path("/var/lib/lomuz-player")
    assert state.stat().st_uid == user.pw_uid
    assert state.stat().st_mode & 0o777 == 0o750
    wants = Path("/etc/systemd/system/multi-user.target.wants/lomuz-player.service")
    assert wants.is_symlink()


@pytest.mark.timeout(900)
def test_installed_unit_verifies_against_the_real_root(installed_player: Path) -> None:
    require_tool("systemd-analyze")
    result = run(
        "systemd-analyze", "verify", "/lib/systemd/system/lomuz-player.service", check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.timeout(900)
def test_reinstalling_the_same_version_is_idempotent(installed_player: Path) -> None:
    settings = Path("/etc/lomuz/player.toml")
    settings.write_text(settings.read_text() + "\n# local edit\n")
    run("dpkg", "-i", str(installed_player), timeout_s=300)
    assert "# local edit" in settings.read_text(), "a conffile edit must survive"
    assert installed_version("lomuz-player") == VERSION
    assert shutil.which("lomuz-player") is not None
