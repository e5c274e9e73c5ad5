"""``lomuz-player run`` (the daemon systemd starts) and its journald logging."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping

from player.cli.context import (
    Context,
    Subparsers,
)
from player.settings import Settings

# --- run ---------------------------------------------------------------------


def register_run(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="the player daemon (systemd runs this)")
    p.set_defaults(handler=_cmd_run)


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Python level -> syslog priority (sd-daemon(3)): crit, err, warning, info, debug.
_SYSLOG_PRIORITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
_LINE_BREAK_TEXT = " | "


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (7, debug, below INFO)."""
    for threshold, priority in _SYSLOG_PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7


class JournalFormatter(logging.Formatter):
    """One journal entry per record, at the record's priority.

    systemd reads a ``<N>`` prefix on a stream line as the syslog priority
    (SyslogLevelPrefix=yes, the default), so ``journalctl -p warning`` finds
    warnings and errors. Every line of a stream is its own entry, so the whole
    record — message and traceback — goes on one line, newlines shown as " | ".
    No timestamp: the journal adds it.
    """

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\r\n", "\n").replace("\r", "\n")
        return f"<{syslog_priority(record.levelno)}>" + text.replace("\n", _LINE_BREAK_TEXT)


def configure_logging(settings: Settings, environ: Mapping[str, str]) -> None:
    """stderr logging: journald's format under systemd (``JOURNAL_STREAM``), else timestamped."""
    handler = logging.StreamHandler(sys.stderr)
    if "JOURNAL_STREAM" in environ:
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s " + LOG_FORMAT))
    logging.basicConfig(level=settings.log.level, handlers=[handler], force=True)
    for noisy in ("apscheduler", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    from player.daemon import run

    configure_logging(ctx.settings, ctx.environ)
    return run(ctx.settings, ctx.environ)
