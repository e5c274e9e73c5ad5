"""``lomuz-player``: the player's command line (PROTOCOL.md "Player commands").

Adding a subcommand is one ``register_<name>(subparsers)`` function, in the
module of its group, that adds its parser and sets ``handler``, plus one entry
in ``REGISTRATIONS``. A handler takes ``(args, ctx)`` (``context.Context``)
and returns an exit code; it raises ``PlayerError`` for failures, which
``main`` turns into one line on stderr.

Modules: ``context`` (exit codes, ``UsageError``, ``Context``), ``reads``
(next, plays, status), ``provisioning`` (import, enroll, sync), ``service``
(run and its journald logging), ``maintenance`` (config, clock reset,
doctor); this one builds the parser and runs ``main``.

Exit codes: 0 ok, 1 failure (an invalid bundle included), 2 usage error,
78 bad configuration. Never a traceback.

Start-up time (issue 11): a technician waits for every command, on a Pi. The
package's modules import at top level only the standard library and the
player's light modules; a handler imports what it needs (SQLAlchemy, httpx,
libvlc, the daemon) itself. ``--help``, ``--version``, ``config``, ``status``,
``plays`` and ``clock reset`` import none of those, ``next`` only SQLAlchemy
(tests/player/cli/test_cli_imports.py holds that).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from player.cli.context import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    Handler,
    Subparsers,
    UsageError,
    player_version,
)
from player.cli.maintenance import register_clock, register_config, register_doctor
from player.cli.provisioning import register_enroll, register_import, register_sync
from player.cli.reads import (
    collect_status,
    corrected_now,
    decision_as_json,
    register_next,
    register_plays,
    register_status,
)
from player.cli.service import (
    JournalFormatter,
    configure_logging,
    register_run,
    syslog_priority,
)
from player.errors import ConfigError, PlayerError
from player.settings import load_settings

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "REGISTRATIONS",
    "Context",
    "JournalFormatter",
    "UsageError",
    "build_parser",
    "collect_status",
    "configure_logging",
    "corrected_now",
    "decision_as_json",
    "main",
    "syslog_priority",
]


class _VersionAction(argparse.Action):
    """``--version`` that looks the version up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser._print_message(f"lomuz-player {player_version()}\n", sys.stdout)
        parser.exit()


REGISTRATIONS: tuple[Callable[[Subparsers], None], ...] = (
    register_run,
    register_enroll,
    register_sync,
    register_import,
    register_next,
    register_plays,
    register_status,
    register_config,
    register_clock,
    register_doctor,
)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns the exit code."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lomuz-player",
        description="Lomuz edge player: in-store music and signage.",
    )
    parser.add_argument("--config", type=Path, metavar="PATH", help="settings file (TOML)")
    parser.add_argument(
        "--version", action=_VersionAction, help="show program's version number and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for register in REGISTRATIONS:
        register(sub)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    """Run ``lomuz-player``; returns the exit code (the console script exits with it)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    env = environ if environ is not None else os.environ
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(list(argv) if argv is not None else None)
        except SystemExit as exc:  # --help / --version print and exit 0
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        try:
            settings = load_settings(args.config, env)
        except ConfigError as exc:
            if args.command != "doctor":
                raise
            # The doctor reports a bad configuration as a failed check (and exits 1).
            from player.doctor import doctor_command

            return doctor_command(exc, env, args.json, out)
        ctx = Context(settings, out, err, env, stdin=stdin if stdin is not None else sys.stdin)
        handler: Handler = args.handler
        return handler(args, ctx)
    except UsageError as exc:
        print(str(exc), file=err)
        print(f"usage: see '{parser.prog} --help'", file=err)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"lomuz-player: bad configuration: {exc}", file=err)
        return EXIT_CONFIG
    except PlayerError as exc:
        print(f"lomuz-player: {exc}", file=err)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lomuz-player plays | head`: the reader went away; not an error worth a line.
        return EXIT_OK
    except Exception as exc:  # the CLI boundary: one line, never a traceback
        print(f"lomuz-player: internal error: {type(exc).__name__}: {exc}", file=err)
        return EXIT_FAILURE
