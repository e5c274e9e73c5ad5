"""The read commands: ``next``, ``plays``, ``status``.

They create, migrate and change no file (the database is opened read-only),
whoever runs them; they read through ``player.store.read_only`` (``next``
runs the store's own decision query there) and import no SQLAlchemy (fast
start, issue 11).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lomuz_rules.model import Decision, Tier
from player.cli.context import (
    EXIT_OK,
    Context,
    Subparsers,
    UsageError,
    daemon_holds_run_lock,
)
from player.core.model import Play
from player.errors import ManifestError
from player.wire import encode_play, format_instant, parse_instant

if TYPE_CHECKING:
    from player.store.read_only import StoreReader


# --- next --------------------------------------------------------------------


def register_next(sub: Subparsers) -> None:
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


def corrected_now(ctx: Context, store: StoreReader | None) -> tuple[datetime, str]:
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
    lower_bound = store.device_state().clock_lower_bound if store is not None else None
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
    with ctx.store_reader() as store:
        if given_at is not None:
            at, clock_source = given_at, "--at"
        else:
            at, clock_source = corrected_now(ctx, store)
        if store is None:
            decision = decide_without_state(ctx, at, fallback)
        else:
            decision = store.decide(at, fallback)
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


def register_plays(sub: Subparsers) -> None:
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


def register_status(sub: Subparsers) -> None:
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
                    at=at,
                    state=store.device_state(),
                    counts=store.counts(at),
                    cache=cache,
                    quarantined=tuple(store.quarantined_files(at)),
                )
                return {
                    **local_json(
                        status,
                        enrolled=enrolled,
                        data_dir=ctx.settings.data_dir,
                        database=ctx.settings.db_path,
                    ),
                    "database_migrating": False,
                }
    except SchemaBehind:
        if not daemon_holds_run_lock(ctx.settings.data_dir):
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
    # The daemon holds the link; without one running there is no connection.
    status["push"] = (
        live["push"]
        if live is not None and "push" in live
        else {"state": "off" if ctx.settings.push.url is None else "disconnected"}
    )
    if args.json:
        ctx.print_json(status)
        return EXIT_OK
    for line in status_text(status, ctx.settings.db_path):
        ctx.print(line)
    return EXIT_OK
