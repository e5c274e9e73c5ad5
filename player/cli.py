"""``lomuz-player``: the player's command line (PROTOCOL.md "Player commands").

Adding a subcommand is one ``_register_<name>(subparsers)`` function that adds
its parser and sets ``handler``, plus one entry in ``REGISTRATIONS``. A handler
takes ``(args, ctx)`` and returns an exit code; it raises ``PlayerError`` for
failures, which ``main`` turns into one line on stderr.

Exit codes: 0 ok, 1 failure (an invalid bundle included), 2 usage error,
78 bad configuration. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from player.core.model import Decision, Play, Tier
from player.doctor import doctor_command, register_doctor
from player.errors import ConfigError, ManifestError, PlayerError
from player.jsonable import json_default as _json_default
from player.jsonable import plain as _plain
from player.settings import Settings, load_settings, mask_secret, settings_as_dict
from player.wire import encode_play, format_instant, parse_instant

if TYPE_CHECKING:
    from player.store.repository import PlayerStore

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h

# Extra state keys `status` shows when present (written by the syncer, daemon and
# uploader; the store owns cursor/device/last_sync_at).
STATUS_STATE_KEYS = (
    "last_sync_error",
    "last_error",
    "last_error_at",
    "now_playing",
    "clock_offset_s",
    "clock_trusted",
)

Handler = Callable[[argparse.Namespace, "Context"], int]
# What a _register_<command> function gets.
Subparsers: TypeAlias = "argparse._SubParsersAction[Any]"


class UsageError(PlayerError):
    """A bad command-line argument (exit 2)."""


@dataclass
class Context:
    """What a command handler gets: settings, output streams, the environment."""

    settings: Settings
    stdout: IO[str]
    stderr: IO[str]
    environ: Mapping[str, str]

    def print(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def print_json(self, value: object) -> None:
        json.dump(value, self.stdout, indent=2, sort_keys=False, default=_json_default)
        self.stdout.write("\n")

    @contextmanager
    def store(self) -> Iterator[PlayerStore]:
        """Open the local database (creating ``data_dir`` if needed); always closed."""
        from player.store.repository import PlayerStore

        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PlayerError(
                f"data_dir {self.settings.data_dir}: cannot create: {exc.strerror or exc}"
            ) from exc
        store = PlayerStore.open(
            self.settings.db_path, outbox_max_rows=self.settings.telemetry.outbox_max_rows
        )
        try:
            yield store
        finally:
            store.close()


def _version() -> str:
    try:
        return metadata.version("lomuz-edge")
    except metadata.PackageNotFoundError:
        return "unknown"


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
    from player.adapters.media_cache import MediaCache
    from player.bundle import apply_bundle, prepare_bundle

    bundle_dir: Path = args.dir
    cache = MediaCache(ctx.settings.media_dir)
    # Verify before opening (maybe creating) the database: a bad bundle touches nothing.
    plan = prepare_bundle(bundle_dir, cache)
    with ctx.store() as store:
        result = apply_bundle(plan, store, cache)
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


def _cmd_next(args: argparse.Namespace, ctx: Context) -> int:
    if args.at is not None:
        try:
            at = parse_instant(args.at, "--at")
        except ManifestError as exc:
            raise UsageError(str(exc)) from exc
    else:
        at = datetime.now(UTC)
    fallback = Tier(ctx.settings.playback.fallback)
    with ctx.store() as store:
        decision = store.decide(at, fallback=fallback)
    if args.json:
        ctx.print_json(decision_as_json(decision))
        return EXIT_OK
    ctx.print(f"at        {format_instant(decision.at)}")
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
    with ctx.store() as store:
        rows: list[tuple[Play, bool]] = list(store.local_plays(limit=args.limit))
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
    """The local parts of the status (no network); quarantines judged at ``at``."""
    from player.adapters.media_cache import MediaCache
    from player.store.repository import KEY_LAST_SYNC_AT

    usage = MediaCache(ctx.settings.media_dir).usage()
    with ctx.store() as store:
        device = store.device()
        counts = store.counts(at)
        state = {key: store.get_state(key) for key in STATUS_STATE_KEYS}
        return {
            "at": format_instant(at),
            "device": _plain(device) if device is not None else None,
            "enrolled": ctx.settings.credentials_path.is_file(),
            "cursor": store.cursor(),
            "last_sync_at": _instant_text(store.get_state(KEY_LAST_SYNC_AT)),
            "counts": _plain(counts),
            "cache": {"files": usage.files, "size_bytes": usage.size_bytes},
            "outbox_plays": counts.outbox_pending,
            "dropped_plays": store.dropped_plays_count(),
            "quarantined_files": [
                {
                    "sha256": f.sha256,
                    "until": _instant_text(f.quarantined_until),
                    "reason": f.quarantine_reason,
                }
                for f in store.quarantined_files(at)
            ],
            "state": {k: v for k, v in state.items() if v is not None},
            "data_dir": str(ctx.settings.data_dir),
        }


def _instant_text(value: datetime | str | None) -> str | None:
    """Stored instants shown as RFC 3339 UTC; anything unparsable shown as is."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    return format_instant(parsed) if parsed.tzinfo is not None else parsed.isoformat()


def _cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from player.daemon import control_socket_path
    from player.runtime.control import ask_daemon

    status = collect_status(ctx, datetime.now(UTC))
    # The running daemon adds what only it knows: now playing, downloads, clock.
    live = ask_daemon(control_socket_path(ctx.settings), "status", timeout_s=5.0)
    status["daemon"] = live
    if args.json:
        ctx.print_json(status)
        return EXIT_OK
    device = status["device"]
    ctx.print(
        "device     "
        + (f"{device['id']} ({device['name']}, {device['timezone']})" if device else "unknown")
    )
    ctx.print(f"enrolled   {'yes' if status['enrolled'] else 'no'}")
    ctx.print(f"cursor     {status['cursor'] or '-'}")
    ctx.print(f"last sync  {status['last_sync_at'] or 'never'}")
    cache = status["cache"]
    ctx.print(f"cache      {cache['files']} files, {cache['size_bytes']} bytes")
    ctx.print(
        f"outbox     {status['outbox_plays']} plays pending, {status['dropped_plays']} dropped"
    )
    counts = status["counts"]
    ctx.print(
        f"catalogue  {counts['assets']} assets, {counts['playlists']} playlists, "
        f"{counts['schedules']} schedules, {counts['files_present']} files verified"
    )
    for q in status["quarantined_files"]:
        ctx.print(f"quarantine {q['sha256'][:12]} until {q['until']}: {q['reason']}")
    for key, value in status["state"].items():
        ctx.print(f"{key:<10} {value}")
    if live is None:
        ctx.print("daemon     not running")
        return EXIT_OK
    playing = live.get("now_playing") or {}
    ctx.print(
        f"playing    {playing.get('state', '?')} {playing.get('tier') or ''} "
        f"{playing.get('asset_id') or ''}".rstrip()
    )
    clock = live.get("clock") or {}
    ctx.print(
        f"clock      {'trusted' if clock.get('trusted') else 'NOT trusted'}, "
        f"offset {clock.get('offset_s')} s ({clock.get('reason')})"
    )
    downloads = live.get("downloads") or {}
    if downloads:
        ctx.print(
            f"downloads  {downloads.get('pending', 0)} pending, "
            f"{len(downloads.get('failing') or [])} failing"
        )
        for failure in downloads.get("failing") or []:
            ctx.print(f"  {failure['sha256'][:12]}: {failure['last_error']}")
    if live.get("storage_full"):
        ctx.print("storage    FULL: the scheduled media does not fit the cache budget")
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
    except (OSError, ValueError) as exc:
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
    p = sub.add_parser("enroll", help="enroll this box with the control API (one-time code)")
    p.add_argument("--api", metavar="URL", help="control API base URL (default: api.url)")
    p.add_argument("--code", required=True, help="the enrollment code shown to the director")
    p.set_defaults(handler=_cmd_enroll)


def _cmd_enroll(args: argparse.Namespace, ctx: Context) -> int:
    import platform

    from player.adapters.http_api import ControlApiClient
    from player.credentials import Credentials, save_credentials

    api_url = args.api or ctx.settings.api.url
    if not api_url:
        raise UsageError("enroll: --api URL is required (no api.url in the settings)")
    if not api_url.startswith(("http://", "https://")):
        raise UsageError(f"enroll: --api must be an http(s) URL, got {api_url!r}")
    hardware = {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "player_version": _version(),
    }
    with ControlApiClient(api_url, None) as client:
        enrollment = client.enroll(args.code, hardware)
    save_credentials(
        ctx.settings.credentials_path,
        Credentials(api_url, enrollment.device_id, enrollment.device_token),
    )
    ctx.print(f"enrolled as device {enrollment.device_id} with {api_url}")
    return EXIT_OK


# --- run ---------------------------------------------------------------------


def _register_run(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="the player daemon (systemd runs this)")
    p.set_defaults(handler=_cmd_run)


def configure_logging(settings: Settings, environ: Mapping[str, str]) -> None:
    """stderr logging for journald (no timestamps there: the journal adds them)."""
    import logging

    fmt = "%(levelname)s %(name)s: %(message)s"
    if "JOURNAL_STREAM" not in environ:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=settings.log.level, format=fmt, stream=sys.stderr, force=True)
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
    from player.daemon import control_socket_path
    from player.runtime.control import ask_daemon

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
    from player.adapters.clock import SystemClock
    from player.adapters.fetcher import Fetcher
    from player.adapters.http_api import ControlApiClient
    from player.adapters.media_cache import MediaCache
    from player.credentials import load_credentials
    from player.runtime.downloads import DownloadManager
    from player.runtime.janitor import Janitor
    from player.runtime.syncer import Syncer

    credentials = load_credentials(ctx.settings.credentials_path)
    if credentials is None:
        raise PlayerError("not enrolled: run 'lomuz-player enroll --api URL --code CODE' first")
    cache = MediaCache(ctx.settings.media_dir)
    cache.ensure_dirs()
    with ctx.store() as store, ControlApiClient(
        credentials.api_url, credentials.device_token
    ) as client:
        clock = SystemClock()
        try:
            outcome = Syncer(store, client, clock).sync_once()
        except PlayerError as exc:
            return {"ok": False, "error": str(exc)}
        janitor = Janitor(
            store, cache, clock,
            max_cache_bytes=ctx.settings.downloads.max_cache_bytes,
            min_free_bytes=ctx.settings.downloads.min_free_bytes,
        )
        downloads = DownloadManager(
            store, cache, Fetcher(client, cache), clock,
            concurrency=ctx.settings.downloads.concurrency,
            has_room_for=janitor.has_room_for,
        )
        started_mono = clock.monotonic()
        downloads.start()
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
    parser.add_argument("--version", action="version", version=f"lomuz-player {_version()}")
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
            return doctor_command(exc, env, args.json, out)
        ctx = Context(settings, out, err, env)
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
