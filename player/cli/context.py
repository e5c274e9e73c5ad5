"""What every ``lomuz-player`` command shares: exit codes, ``UsageError``, ``Context``.

Top level: the standard library and the player's light modules only (see
``player.cli``); what a command needs beyond that it imports itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from player.errors import PlayerError
from player.jsonable import json_default as _json_default
from player.settings import Settings

if TYPE_CHECKING:
    from player.composition import PlayerParts
    from player.store.read_only import StoreReader
    from player.store.repository import PlayerStore

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h

Handler = Callable[[argparse.Namespace, "Context"], int]
# What a register_<command> function gets.
Subparsers: TypeAlias = "argparse._SubParsersAction[Any]"


class UsageError(PlayerError):
    """A bad command-line argument (exit 2)."""


@dataclass
class Context:
    """What a command handler gets: settings, output streams, the environment.

    ``euid`` is who runs the command (``enroll`` as root writes the credentials
    as the data directory's owner); injectable for tests.
    """

    settings: Settings
    stdout: IO[str]
    stderr: IO[str]
    environ: Mapping[str, str]
    euid: Callable[[], int] = os.geteuid
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)

    def print(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def print_json(self, value: object) -> None:
        json.dump(value, self.stdout, indent=2, sort_keys=False, default=_json_default)
        self.stdout.write("\n")

    def ask_daemon(self, command: str, timeout_s: float, **fields: Any) -> dict[str, Any] | None:
        """A running daemon's reply on the control socket; None when none answers.

        A socket we may not open (another user's 0600 socket) counts as no daemon.
        """
        from player.runtime.control import ask_daemon, control_socket_path

        try:
            return ask_daemon(
                control_socket_path(self.settings), command, timeout_s=timeout_s, **fields
            )
        except (OSError, ValueError):
            return None

    @contextmanager
    def store_reader(self) -> Iterator[StoreReader | None]:
        """The local database opened read-only (no SQLAlchemy: fast start), None when
        there is none yet; always closed.

        What the read commands use: they create, migrate and change no file,
        whoever runs them (root included), so they cannot break the daemon's files.
        """
        from player.store.read_only import StoreReader

        reader = StoreReader.open(self.settings.db_path)
        try:
            yield reader
        finally:
            if reader is not None:
                reader.close()

    @contextmanager
    def parts(self) -> Iterator[PlayerParts]:
        """The player's parts, built on demand by the daemon's builder; all closed at the end."""
        from player.composition import PlayerParts

        with PlayerParts(self.settings, self.environ) as parts:
            yield parts

    @contextmanager
    def store(self) -> Iterator[PlayerStore]:
        """Open the local database for writing (creating and migrating it); always closed."""
        with self.parts() as parts:
            yield parts.store


def player_version() -> str:
    from importlib import metadata  # ~25 ms: only --version and enroll need it

    try:
        return metadata.version("lomuz-edge")
    except metadata.PackageNotFoundError:
        return "unknown"


def daemon_holds_run_lock(data_dir: Path) -> bool:
    """True when a daemon holds ``run.lock`` (it may run without a control socket)."""
    import fcntl

    try:
        handle = (data_dir / "run.lock").open("r")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
