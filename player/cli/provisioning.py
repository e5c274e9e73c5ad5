"""The commands that fill a box: ``import`` (offline bundle), ``enroll``, ``sync``."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from player.cli.context import (
    EXIT_FAILURE,
    EXIT_OK,
    Context,
    Subparsers,
    UsageError,
    player_version,
)
from player.errors import PlayerError
from player.jsonable import plain as _plain

# --- import ------------------------------------------------------------------


def register_import(sub: Subparsers) -> None:
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


# --- enroll ------------------------------------------------------------------


def register_enroll(sub: Subparsers) -> None:
    p = sub.add_parser(
        "enroll",
        help="enroll this box with the control API (one-time code)",
        description="Trade a one-time enrollment code for this box's device token. "
        "Give the code on standard input (--code-stdin): a --code argument is "
        "visible to every user of the box (ps, /proc) while enroll runs.",
    )
    p.add_argument(
        "--api",
        metavar="URL",
        help="control API base URL (default: api.url); https:// unless the host is "
        "loopback or [api] allow_insecure_http = true",
    )
    code = p.add_mutually_exclusive_group(required=True)
    code.add_argument(
        "--code-stdin",
        action="store_true",
        help="read the enrollment code from the first line of standard input",
    )
    code.add_argument(
        "--code",
        metavar="CODE",
        help="the enrollment code (visible to other users while enroll runs: prefer --code-stdin)",
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
        raise UsageError(
            f"enroll: --code-stdin: the line is longer than {MAX_CODE_LINE_CHARS} characters"
        )
    code = line.strip()
    if not code:
        raise UsageError(
            "enroll: --code-stdin: standard input has no code "
            "(e.g. echo CODE | lomuz-player enroll --api URL --code-stdin)"
        )
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
        "player_version": player_version(),
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


# --- sync --------------------------------------------------------------------


def register_sync(sub: Subparsers) -> None:
    p = sub.add_parser("sync", help="sync now and fetch the media it needs (foreground)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.add_argument(
        "--download-timeout-s",
        type=float,
        default=600.0,
        metavar="S",
        help="how long to wait for downloads (default 600)",
    )
    p.set_defaults(handler=_cmd_sync)


def _cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    from player.runtime.control import ask_daemon, control_socket_path

    if args.download_timeout_s < 0:
        raise UsageError("sync: --download-timeout-s must be >= 0")
    reply = ask_daemon(
        control_socket_path(ctx.settings),
        "sync",
        timeout_s=args.download_timeout_s + 180,
        download_wait_s=args.download_timeout_s,
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
            + (
                "no change"
                if not sync["changed"]
                else f"applied {'full' if sync['full'] else 'delta'} manifest {sync['cursor']}"
            )
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
