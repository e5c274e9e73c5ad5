"""Shared helpers for the field-operations tests (systemd units, packages)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.netutil import free_port

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
VENV_BIN = Path(sys.executable).parent
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def require_tool(name: str) -> str:
    """Path of ``name``; skip when absent, fail when CI (LOMUZ_CI=1) needs it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("LOMUZ_CI") == "1":
            pytest.fail(f"{name} is required in CI (LOMUZ_CI=1); install it (scripts/bootstrap)")
        pytest.skip(f"{name} not installed")
    return path


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (keys repeat; continuations joined)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path}: key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(" ".join(value.split()))
    return sections


@pytest.fixture(scope="session")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two packages, built once per test session by scripts/build-debs (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("building and installing packages needs root")
    out = tmp_path_factory.mktemp("dist")
    # lintian runs in the packaging tests, where its findings are assertions.
    built = subprocess.run(
        [str(REPO / "scripts/build-debs"), "--no-lintian", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    found = {name: out / f"lomuz-{name}_{VERSION}_{arch}.deb" for name in ("player", "control")}
    for path in found.values():
        assert path.is_file(), sorted(p.name for p in out.iterdir())
    return found


def unit_command(line: str, environ: dict[str, str]) -> list[str]:
    """A unit's Exec line with ``${VAR}`` expanded and /opt/lomuz/control/bin this venv's."""
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: environ[m.group(1)], line)
    argv = expanded.split()
    argv[0] = argv[0].replace("/opt/lomuz/control/bin", str(VENV_BIN))
    return argv


def control_unit_environment() -> dict[str, str]:
    """This process's environment with the control unit's Environment= lines over it."""
    service = parse_unit(UNITS / "lomuz-control.service")["Service"]
    environ = dict(os.environ)
    for assignment in service["Environment"]:
        key, _, value = assignment.partition("=")
        environ[key] = value
    return environ


def control_unit_environ(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The unit's environment with what an operator's control.env would set.

    A SQLite database, media and metrics directories under ``tmp_path`` (the
    unit's RuntimeDirectory is systemd's to make; here an empty private one)
    and a free loopback port; ``overrides`` last.
    """
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    environ = control_unit_environment()
    environ.update(
        LOMUZ_DATABASE_URL=f"sqlite:///{tmp_path / 'control.db'}",
        LOMUZ_MEDIA_DIR=str(tmp_path / "media"),
        LOMUZ_HTTP_PORT=str(free_port()),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    environ.update(overrides)
    return environ


@contextmanager
def control_unit_running(environ: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The unit's ExecStartPre (it must succeed), then its ExecStart, stopped on exit."""
    service = parse_unit(UNITS / "lomuz-control.service")["Service"]
    (pre,) = service["ExecStartPre"]
    migrated = subprocess.run(
        unit_command(pre, environ),
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    (start,) = service["ExecStart"]
    process = subprocess.Popen(
        unit_command(start, environ),
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
