"""``lomuz-player``: the player's command line (PROTOCOL.md "Player commands").

Adding a subcommand is one ``_register_<name>(subparsers)`` function that adds
its parser and sets ``handler``, plus one entry in ``REGISTRATIONS``. A handler
takes ``(args, ctx)`` and returns an exit code; it raises ``PlayerError`` for
failures, which ``main`` turns into one line on stderr.

Exit codes: 0 ok, 1 failure (an invalid bundle included), 2 usage error,
78 bad configuration. Never a traceback.

Start-up time (issue 11): a technician waits for every command, on a Pi. The
module's top level imports only the standard library and the player's light
modules; a handler imports what it needs (SQLAlchemy, httpx, libvlc, the
daemon) itself. ``--help``, ``--version``, ``config``, ``status``, ``plays``
and ``clock reset`` import none of those, ``next`` only SQLAlchemy
(tests/player/cli/test_cli_imports.py holds that).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from lomuz_rules.model import Decision, Tier
from player.core.model import Play
from player.errors import ConfigError, ManifestError, PlayerError
from player.jsonable import json_default as _json_default
from player.jsonable import plain as _plain
from player.settings import Settings, load_settings, mask_secret, settings_as_dict
from player.wire import encode_play, format_instant, parse_instant

if TYPE_CHECKING:
    from player.composition import PlayerParts
    from player.store.read_only import StoreReader
    from player.store.repository import PlayerStore

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h

Handler = Callable[[argparse.Namespace, "Context"], int]
# What a _register_<command> function gets.
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

    @contextmanager
    def read_store(self) -> Iterator[PlayerStore | None]:
        """The local database opened read-only, None when there is none yet; always closed.

        What the read commands use: they create, migrate and change no file,
        whoever runs them (root included), so they cannot break the daemon's files.
        """
        from player.store.repository import PlayerStore

        store = PlayerStore.open_read_only(
            self.settings.db_path, outbox_max_rows=self.settings.telemetry.outbox_max_rows
        )
        try:
            yield store
        finally:
            if store is not None:
                store.close()

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
        """Like ``read_store`` for what ``StoreReader`` offers, without SQLAlchemy (fast start)."""
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

def _version() -> str:
    from importlib import metadata  # ~25 ms: only --version and enroll need it

    try:
        return metadata.version("lomuz-edge")
    except metadata.PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version`` that looks the version up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        parser._print_message(f"lomuz-player {_version()}\n", sys.stdout)
        parser.exit()


# --- import ------------------------------------------------------------------


def _register_import(sub: Subparsers) -> None:
    p = sub.add_parser(
        "import",
        help="offline provisioning from DIR/manifest.json and DIR/media/<sha256>",
        description="Verify every file of an offline bundle, copy it into the cache and "
        "apply its full manifest. A bad bundle changes nothing.",
    )
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_cmd_import)


def _cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from player.bundle import apply_bundle, prepare_bundle

    bundle_dir: Path = args.dir
    with ctx.parts() as parts:
        cache = parts.media_cache
        # Verify before opening (maybe creating) the database: a bad bundle touches nothing.
        plan = prepare_bundle(bundle_dir, cache)
        result = apply_bundle(plan, parts.store, cache)
    if args.json:
        ctx.print_json(asdict(result))
    else:
        ctx.print(
            f"imported {bundle_dir}: cursor {result.cursor}, {result.assets} assets, "
            f"{result.playlists} playlists, {result.schedules} schedules; "
            f"{result.files_copied} files copied ({result.bytes_copied} bytes), "
            f"{result.files_present} already cached"
        )
    return EXIT_OK


# --- next --------------------------------------------------------------------


def _register_next(sub: Subparsers) -> None:
    p = sub.add_parser(
        "next",
        help="what would play at a given time, and why",
        description="Evaluate the schedule rules. --at uses exactly that instant "
        "(no clock correction); rotation state is the current one.",
    )
    p.add_argument("--at", metavar="INSTANT", help="RFC 3339 instant, e.g. 2026-12-01T09:00:00Z")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.set_defaults(handler=_cmd_next)


def decision_as_json(decision: Decision) -> dict[str, Any]:
    """PROTOCOL.md ``next --json`` output (plus additive fields)."""
    return {
        "at": format_instant(decision.at),
        "tier": decision.tier.value,
        "asset_id": decision.asset_id,
        "sha256": decision.sha256,
        "schedule_id": decision.schedule_id,
        "playlist_id": decision.playlist_id,
        "reasons": list(decision.reasons),
        "media_type": decision.media_type.value if decision.media_type else None,
        "play_duration_ms": decision.play_duration_ms,
        "next_boundary_at": format_instant(decision.next_boundary_at)
        if decision.next_boundary_at
        else None,
    }


CLOCK_SOURCE_TEXT = {
    "--at": "--at, no clock correction",
    "daemon": "the running daemon's corrected clock",
    "lower_bound": "system clock is behind the stored clock lower bound: using the bound",
    "system": "system clock; no daemon running",
}


def corrected_now(ctx: Context, store: PlayerStore | None) -> tuple[datetime, str]:
    """The instant the daemon would judge the schedules at, and where it came from.

    The running daemon's corrected clock (its ``status`` reply has ``at``); else
    the system clock, but never before the persisted lower bound (the daemon's
    ``corrected_now`` floor), so a box whose clock reset to 1970 is still judged
    at the last trusted time.
    """
    live = ctx.ask_daemon("status", timeout_s=3.0)
    if live is not None and isinstance(live.get("at"), str):
        try:
            return parse_instant(live["at"], "daemon status at"), "daemon"
        except ManifestError:
            pass  # an older daemon's reply: fall back to the local rule
    system_now = datetime.now(UTC)
    lower_bound = store.state.read().clock_lower_bound if store is not None else None
    if lower_bound is not None and lower_bound > system_now:
        return lower_bound, "lower_bound"
    return system_now, "system"


def decide_without_state(ctx: Context, at: datetime, fallback: Tier) -> Decision:
    """``next`` on a box with no database yet: the fallback, saying why."""
    from dataclasses import replace

    from lomuz_rules import schedule as rules

    decision = rules.decide(rules.Catalogue(), at, fallback)
    reason = f"no local state yet ({ctx.settings.db_path} does not exist)"
    return replace(decision, reasons=(reason, *decision.reasons))


def _cmd_next(args: argparse.Namespace, ctx: Context) -> int:
    fallback = Tier(ctx.settings.playback.fallback)
    given_at: datetime | None = None
    if args.at is not None:
        try:
            given_at = parse_instant(args.at, "--at")
        except ManifestError as exc:
            raise UsageError(str(exc)) from exc
    with ctx.read_store() as store:
        if given_at is not None:
            at, clock_source = given_at, "--at"
        else:
            at, clock_source = corrected_now(ctx, store)
        if store is None:
            decision = decide_without_state(ctx, at, fallback)
        else:
            decision = store.decisions.decide(at, fallback=fallback)
    if args.json:
        ctx.print_json({**decision_as_json(decision), "clock": clock_source})
        return EXIT_OK
    ctx.print(f"at        {format_instant(decision.at)} ({CLOCK_SOURCE_TEXT[clock_source]})")
    ctx.print(f"tier      {decision.tier.value}")
    if decision.asset_id is not None:
        ctx.print(f"asset     {decision.asset_id} (sha256 {decision.sha256})")
    if decision.schedule_id is not None:
        ctx.print(f"schedule  {decision.schedule_id} (playlist {decision.playlist_id})")
    if decision.play_duration_ms is not None:
        ctx.print(f"duration  {decision.play_duration_ms} ms")
    if decision.next_boundary_at is not None:
        ctx.print(f"until     {format_instant(decision.next_boundary_at)}")
    if decision.reasons:
        ctx.print("reasons:")
        for reason in decision.reasons:
            ctx.print(f"  - {reason}")
    return EXIT_OK


# --- plays -------------------------------------------------------------------


def _register_plays(sub: Subparsers) -> None:
    p = sub.add_parser("plays", help="the local proof-of-play log, newest last")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="only the newest N plays")
    p.add_argument("--json", action="store_true", help="print a JSON list of Plays")
    p.set_defaults(handler=_cmd_plays)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _cmd_plays(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.store_reader() as store:
        rows: list[tuple[Play, bool]] = (
            list(store.local_plays(limit=args.limit)) if store is not None else []
        )
    if args.json:
        ctx.print_json([{**encode_play(play), "uploaded": uploaded} for play, uploaded in rows])
        return EXIT_OK
    if not rows:
        ctx.print("no plays recorded")
    for play, uploaded in rows:
        ctx.print(
            f"{format_instant(play.started_at)}  {play.source.value:<9} {play.outcome.value:<9} "
            f"{play.asset_id}  {'uploaded' if uploaded else 'pending'}"
        )
    return EXIT_OK


# --- status ------------------------------------------------------------------


def _register_status(sub: Subparsers) -> None:
    p = sub.add_parser("status", help="local state: device, sync, cache, outbox, errors")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(handler=_cmd_status)


def collect_status(ctx: Context, at: datetime) -> dict[str, Any]:
    """The local parts of the status (no network); quarantines judged at ``at``.

    One model (``player.core.status.PlayerStatus``) read from the database,
    rendered by ``player.status_render.local_json``. While the daemon holds
    its run lock and the schema is behind, the daemon is setting the database
    up (its first start's migration): said so, not "restart the player".
    """
    from player.adapters.media_cache import MediaCache
    from player.core.status import NO_COUNTS, CacheUse, DeviceState, PlayerStatus
    from player.errors import SchemaBehind
    from player.status_render import local_json

    usage = MediaCache(ctx.settings.media_dir).usage()
    cache = CacheUse(usage.files, usage.size_bytes)
    enrolled = ctx.settings.credentials_path.is_file()
    migrating = False
    try:
        with ctx.store_reader() as store:
            if store is not None:
                status = PlayerStatus(
                    at=at, state=store.device_state(), counts=store.counts(at), cache=cache,
                    quarantined=tuple(store.quarantined_files(at)),
                )
                return {
                    **local_json(status, enrolled=enrolled, data_dir=ctx.settings.data_dir,
                                 database=ctx.settings.db_path),
                    "database_migrating": False,
                }
    except SchemaBehind:
        if not _daemon_holds_run_lock(ctx.settings.data_dir):
            raise  # nobody migrates it: the message says to restart the player
        migrating = True
    # No database yet (nothing is created), or the daemon is migrating it.
    empty = PlayerStatus(at=at, state=DeviceState(), counts=NO_COUNTS, cache=cache)
    return {
        **local_json(empty, enrolled=enrolled, data_dir=ctx.settings.data_dir, database=None),
        "database_migrating": migrating,
    }


def _cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from player.status_render import add_offset_text, status_text

    status = collect_status(ctx, datetime.now(UTC))
    # The running daemon adds what only it knows: now playing, downloads, clock.
    live = ctx.ask_daemon("status", timeout_s=5.0)
    add_offset_text(live)
    status["daemon"] = live
    if args.json:
        ctx.print_json(status)
        return EXIT_OK
    for line in status_text(status, ctx.settings.db_path):
        ctx.print(line)
    return EXIT_OK


# --- config ------------------------------------------------------------------


def _register_config(sub: Subparsers) -> None:
    p = sub.add_parser("config", help="the effective settings (secrets masked)")
    p.add_argument("--json", action="store_true", help="print the settings as JSON")
    p.set_defaults(handler=_cmd_config)


def _credentials_masked(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        from player.credentials import unreadable_fix

        return {"error": f"unreadable: {exc.strerror or exc}", "fix": unreadable_fix(path)}
    except ValueError as exc:
        return {"error": f"unreadable: {exc}"}
    if not isinstance(data, dict):
        return {"error": "not a JSON object"}
    return {
        k: mask_secret(str(v)) if any(s in k for s in ("token", "secret", "key")) else v
        for k, v in data.items()
    }


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))


def _toml_line(key: str, value: object) -> str:
    # TOML has no null: an unset optional key is shown commented out.
    return f"# {key} is unset" if value is None else f"{key} = {_toml_value(value)}"


def _cmd_config(args: argparse.Namespace, ctx: Context) -> int:
    shown = settings_as_dict(ctx.settings)
    shown["credentials"] = _credentials_masked(ctx.settings.credentials_path)
    if args.json:
        ctx.print_json(shown)
        return EXIT_OK
    ctx.print(f"# source: {shown.pop('source') or 'none (defaults)'}")
    paths = shown.pop("paths")
    ctx.print("# derived: " + ", ".join(f"{k} {v}" for k, v in paths.items()))
    credentials = shown.pop("credentials")
    tables = {k: v for k, v in shown.items() if isinstance(v, dict)}
    for key, value in shown.items():
        if key not in tables:
            ctx.print(_toml_line(key, value))
    for name, table in tables.items():
        ctx.print(f"\n[{name}]")
        for key, value in table.items():
            ctx.print(_toml_line(key, value))
    ctx.print(f"\n# credentials: {json.dumps(credentials) if credentials else 'none'}")
    return EXIT_OK



# --- enroll ------------------------------------------------------------------


def _register_enroll(sub: Subparsers) -> None:
    p = sub.add_parser(
        "enroll",
        help="enroll this box with the control API (one-time code)",
        description="Trade a one-time enrollment code for this box's device token. "
        "Give the code on standard input (--code-stdin): a --code argument is "
        "visible to every user of the box (ps, /proc) while enroll runs.",
    )
    p.add_argument(
        "--api", metavar="URL",
        help="control API base URL (default: api.url); https:// unless the host is "
        "loopback or [api] allow_insecure_http = true",
    )
    code = p.add_mutually_exclusive_group(required=True)
    code.add_argument(
        "--code-stdin", action="store_true",
        help="read the enrollment code from the first line of standard input",
    )
    code.add_argument(
        "--code", metavar="CODE",
        help="the enrollment code (visible to other users while enroll runs: "
        "prefer --code-stdin)",
    )
    p.set_defaults(handler=_cmd_enroll)


MAX_CODE_LINE_CHARS = 1024


def enrollment_code(args: argparse.Namespace, stdin: IO[str]) -> str:
    """The code from ``--code`` or the first line of ``stdin`` (``--code-stdin``)."""
    if not args.code_stdin:
        code: str = args.code
        return code
    try:
        line = stdin.readline(MAX_CODE_LINE_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"enroll: --code-stdin: cannot read standard input: {exc}") from exc
    if len(line) > MAX_CODE_LINE_CHARS:
        raise UsageError(f"enroll: --code-stdin: the line is longer than "
                         f"{MAX_CODE_LINE_CHARS} characters")
    code = line.strip()
    if not code:
        raise UsageError("enroll: --code-stdin: standard input has no code "
                         "(e.g. echo CODE | lomuz-player enroll --api URL --code-stdin)")
    return code


def _cmd_enroll(args: argparse.Namespace, ctx: Context) -> int:
    import platform

    from player.credentials import Credentials, owner_for, save_credentials
    from player.settings import check_http_url

    allow_insecure_http = ctx.settings.api.allow_insecure_http
    if args.api is not None:
        try:
            api_url = check_http_url(args.api, allow_insecure_http=allow_insecure_http)
        except ValueError as exc:
            raise UsageError(f"enroll: --api: {exc}, got {args.api!r}") from exc
    elif ctx.settings.api.url:
        api_url = ctx.settings.api.url  # validated with the settings
    else:
        raise UsageError("enroll: --api URL is required (no api.url in the settings)")
    code = enrollment_code(args, ctx.stdin)
    data_dir = ctx.settings.data_dir
    # Root enrolling into the service user's directory writes the file as that user.
    # (A directory root creates here is root's; systemd's StateDirectory= hands it,
    # with its contents, to the service user at the next start.)
    owner = owner_for(data_dir, ctx.euid())
    hardware = {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "player_version": _version(),
    }
    with ctx.parts() as parts:
        enrollment = parts.enrollment_client(api_url).enroll(code, hardware)
    save_credentials(
        ctx.settings.credentials_path,
        Credentials(api_url, enrollment.device_id, enrollment.device_token),
        owner=owner,
    )
    ctx.print(f"enrolled as device {enrollment.device_id} with {api_url}")
    if owner is not None:
        ctx.print(
            f"credentials owned by uid {owner[0]} gid {owner[1]} "
            f"(the owner of {data_dir}), mode 0600"
        )
    return EXIT_OK


# --- run ---------------------------------------------------------------------


def _register_run(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="the player daemon (systemd runs this)")
    p.set_defaults(handler=_cmd_run)


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Python level -> syslog priority (sd-daemon(3)): crit, err, warning, info, debug.
_SYSLOG_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
                      (logging.INFO, 6))
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


# --- sync --------------------------------------------------------------------


def _register_sync(sub: Subparsers) -> None:
    p = sub.add_parser("sync", help="sync now and fetch the media it needs (foreground)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.add_argument(
        "--download-timeout-s", type=float, default=600.0, metavar="S",
        help="how long to wait for downloads (default 600)",
    )
    p.set_defaults(handler=_cmd_sync)


def _cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    from player.runtime.control import ask_daemon, control_socket_path

    if args.download_timeout_s < 0:
        raise UsageError("sync: --download-timeout-s must be >= 0")
    reply = ask_daemon(
        control_socket_path(ctx.settings), "sync",
        timeout_s=args.download_timeout_s + 180, download_wait_s=args.download_timeout_s,
    )
    if reply is None:
        reply = _sync_in_foreground(ctx, args.download_timeout_s)
        reply["via"] = "foreground"
    else:
        reply["via"] = "daemon"
    downloads = reply.get("downloads") or {}
    failing = downloads.get("failing") or []
    ok = bool(reply.get("ok")) and not failing and reply.get("downloads_idle", True)
    if args.json:
        ctx.print_json({**reply, "ok": ok})
    elif not reply.get("ok"):
        ctx.print(f"sync failed: {reply.get('error')}")
    else:
        sync = reply["sync"]
        ctx.print(
            f"sync {sync['sync_id']}: "
            + ("no change" if not sync["changed"] else
               f"applied {'full' if sync['full'] else 'delta'} manifest {sync['cursor']}")
        )
        ctx.print(
            f"downloads: {downloads.get('downloaded_total', 0)} fetched, "
            f"{downloads.get('pending', 0)} pending, {len(failing)} failing"
        )
        for failure in failing:
            ctx.print(f"  {failure['sha256'][:12]}: {failure['last_error']}")
    return EXIT_OK if ok else EXIT_FAILURE


def _sync_in_foreground(ctx: Context, download_timeout_s: float) -> dict[str, Any]:
    """What the daemon's control socket answers, with the daemon's parts built here."""
    from player.credentials import load_credentials

    # Before the heavy imports: a box that is not enrolled is told so at once.
    credentials = load_credentials(ctx.settings.credentials_path)
    if credentials is None:
        raise PlayerError("not enrolled: run 'lomuz-player enroll --api URL --code CODE' first")

    with ctx.parts() as parts:
        parts.cache  # noqa: B018 - created first, as the daemon does
        network = parts.connect(credentials)
        try:
            outcome = network.syncer.sync_once()
        except PlayerError as exc:
            return {"ok": False, "error": str(exc)}
        started_mono = parts.clock.monotonic()
        downloads = network.downloads
        try:
            idle = downloads.wait_idle(download_timeout_s)
        finally:
            downloads.stop()
        return {
            "ok": True,
            "sync": outcome.as_json(),
            "downloads": _plain(downloads.status()),
            "downloads_idle": idle,
            "downloaded": downloads.downloaded_since(started_mono),
        }


# --- clock reset --------------------------------------------------------------


def _register_clock(sub: Subparsers) -> None:
    p = sub.add_parser(
        "clock",
        help="clock maintenance: 'clock reset' deletes the persisted clock lower bound",
        description="reset: delete the persisted clock lower bound (the daemon's "
        "'time never goes back' floor), e.g. after a hostile API pinned it in the future. "
        "Refused while the daemon runs: it holds the bound in memory and writes it back.",
    )
    p.add_argument("action", choices=["reset"], metavar="reset")
    p.set_defaults(handler=_cmd_clock)


def _daemon_holds_run_lock(data_dir: Path) -> bool:
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


def _cmd_clock(args: argparse.Namespace, ctx: Context) -> int:
    # Refuse rather than edit under a running daemon: it keeps the bound in
    # memory and persists it again within a minute and at shutdown.
    if ctx.ask_daemon("status", 5.0) is not None or _daemon_holds_run_lock(
        ctx.settings.data_dir
    ):
        raise PlayerError(
            f"a lomuz-player daemon is running on {ctx.settings.data_dir}: stop it first "
            "(systemctl stop lomuz-player), run 'lomuz-player clock reset', then start it"
        )
    with ctx.store_reader() as existing:
        stored = existing.stored_clock_lower_bound() if existing is not None else None
    if not stored:
        ctx.print("no clock lower bound stored: nothing to reset")
        return EXIT_OK
    with ctx.store() as store:
        store.state.set_clock_lower_bound(None)
    ctx.print(f"clock lower bound {stored} deleted; the next start trusts the system clock "
              "and the API's Date again")
    return EXIT_OK


# --- doctor ------------------------------------------------------------------


def _register_doctor(sub: Subparsers) -> None:
    p = sub.add_parser("doctor", help="field diagnostics: pass/warn/fail, exit 1 on a fail")
    p.add_argument("--json", action="store_true", help='print {"ok", "checks"} as JSON')
    p.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace, ctx: Context) -> int:
    from player.doctor import doctor_command

    return doctor_command(ctx.settings, ctx.environ, args.json, ctx.stdout)


# --- entry point -------------------------------------------------------------

REGISTRATIONS: tuple[Callable[[Subparsers], None], ...] = (
    _register_run,
    _register_enroll,
    _register_sync,
    _register_import,
    _register_next,
    _register_plays,
    _register_status,
    _register_config,
    _register_clock,
    _register_doctor,
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
    parser.add_argument("--version", action=_VersionAction,
                        help="show program's version number and exit")
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


if __name__ == "__main__":
    sys.exit(main())
