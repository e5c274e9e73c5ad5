"""The doctor's result type and where it reads the outside world (``DoctorProbes``)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from player.adapters.vlc_probe import load_libvlc, vlc_plugins_dir
from player.settings import Settings

Status = Literal["pass", "warn", "fail"]

COMMAND_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    """One diagnostic result. ``details`` carries long values (full hashes) for JSON."""

    name: str
    status: Status
    summary: str
    fix: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str = ""


# (argv, timeout_s) -> result, or None when the program is not installed.
CommandRunner = Callable[[Sequence[str], float], "CommandResult | None"]


def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult | None:
    """The real runner: no shell, bounded, never raises."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"timed out after {timeout_s:g} s")
    except OSError as exc:
        return CommandResult(126, "", str(exc))
    return CommandResult(done.returncode, done.stdout, done.stderr)


def probe_audio(settings: Settings) -> str | None:
    """Open the configured output and play the jingle silently: why no sound got out, or None."""
    from player.adapters.vlc_probe import probe_audio as probe_output
    from player.runtime.playback import default_jingle_path

    return probe_output(settings.playback.audio_output, default_jingle_path())


def ask_running_daemon(settings: Settings) -> Mapping[str, Any] | None:
    """The running daemon's live status, or None when none answers (or may not be asked)."""
    from player.runtime.control import ask_daemon, control_socket_path

    try:
        return ask_daemon(control_socket_path(settings), "status", timeout_s=5.0)
    except (OSError, ValueError):
        return None


def _statvfs_free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _wall_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DoctorProbes:
    """Where the doctor reads the outside world. Defaults are the real machine.

    ``root`` prefixes /proc, /sys and /run paths (a temp tree in tests).
    ``http_transport`` None means real network (an ``httpx.BaseTransport``
    handed to ``ControlApiClient``; Any keeps httpx out of this import).
    ``libvlc`` returns a version or raises; ``vlc_plugins_dir`` the directory
    libvlc loads its plugins from (None: none found).
    """

    root: Path = Path("/")
    run: CommandRunner = run_command
    http_transport: Any = None
    libvlc: Callable[[], str] = load_libvlc
    vlc_plugins_dir: Callable[[], Path | None] = vlc_plugins_dir
    disk_free_bytes: Callable[[Path], int] = _statvfs_free_bytes
    wall_now: Callable[[], datetime] = _wall_now
    rng: random.Random = field(default_factory=random.Random)
    daemon_status: Callable[[Settings], Mapping[str, Any] | None] = ask_running_daemon
    audio_probe: Callable[[Settings], str | None] = probe_audio

    def host(self, path: str | Path) -> Path:
        """An absolute host path rebased under ``root``."""
        return self.root / str(path).lstrip("/")
