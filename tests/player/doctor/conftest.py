"""Fakes for the doctor: a command runner, a sysfs/procfs tree, settings on tmp_path."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from player.doctor import CommandResult, DoctorProbes
from player.settings import Settings


class FakeRunner:
    """Answers commands by program name; absent programs return None (not installed)."""

    def __init__(self, answers: dict[str, CommandResult] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[list[str], float]] = []

    def __call__(self, argv: Sequence[str], timeout_s: float) -> CommandResult | None:
        self.calls.append((list(argv), timeout_s))
        return self.answers.get(argv[0])


def fake_libvlc() -> str:
    return "3.0.24 Fake"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """An empty fake host (/proc, /sys, /run) with a read-write root mount."""
    root = tmp_path / "host"
    write(root, "/proc/mounts", "/dev/vda / ext4 rw,relatime 0 0\n")
    return root


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def vlc_plugins(tmp_path: Path) -> Path:
    """A fake libvlc plugins directory with its cache, and vlc-cache-gen beside it."""
    plugins = tmp_path / "lib" / "vlc" / "plugins"
    write(plugins, "/plugins.dat", "cache")
    write(plugins.parent, "/vlc-cache-gen", "")
    return plugins


@pytest.fixture
def probes(host_root: Path, runner: FakeRunner, vlc_plugins: Path) -> DoctorProbes:
    return DoctorProbes(
        root=host_root,
        run=runner,
        libvlc=fake_libvlc,
        vlc_plugins_dir=lambda: vlc_plugins,
        disk_free_bytes=lambda _path: 10 * 1024**3,
        wall_now=lambda: datetime.now(UTC),
        rng=random.Random(7),
        daemon_status=lambda _settings: None,  # no daemon running
        audio_probe=lambda _settings: None,  # a test play would reach the output
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Settings(data_dir=data_dir)


@pytest.fixture(autouse=True)
def _require_vlc(request: pytest.FixtureRequest) -> None:
    """Skip ``@pytest.mark.vlc`` tests without libvlc; fail instead with LOMUZ_REQUIRE_VLC=1."""
    if request.node.get_closest_marker("vlc") is None:
        return
    try:
        import vlc  # noqa: F401
    except (ImportError, OSError) as exc:
        if os.environ.get("LOMUZ_REQUIRE_VLC") == "1":
            pytest.fail(f"LOMUZ_REQUIRE_VLC=1 but libvlc is not loadable: {exc}")
        pytest.skip(f"libvlc not loadable: {exc} (install libvlc5 and vlc-plugin-base)")
