"""Views of the one status model (``player.core.status.PlayerStatus``) as JSON and text.

- ``live_json``: the running daemon's status (its control socket's ``status``
  reply, which ``lomuz-player status`` shows under "daemon", and the telemetry
  report the API stores);
- ``local_json``: what ``lomuz-player status --json`` reads from the database
  itself (keys named in PROTOCOL.md), ``status_text`` its text form.

Imports nothing heavy: ``lomuz-player status`` must start fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from player.core.clock import ClockStatus, describe_offset
from player.core.status import PlayerStatus
from player.jsonable import plain
from player.wire import format_instant


def live_json(status: PlayerStatus) -> dict[str, Any]:
    """The daemon's live status (``status.runtime`` and ``status.clock`` required)."""
    runtime, clock = status.runtime, status.clock
    if runtime is None or clock is None:
        raise ValueError("the live status needs the daemon's runtime and clock")
    state, counts = status.state, status.counts
    return {
        "at": format_instant(status.at),
        "versions": {"player": runtime.player_version, "libvlc": runtime.libvlc_version},
        "started_at": format_instant(runtime.started_at),
        "now_playing": plain(runtime.now_playing) if runtime.now_playing is not None else None,
        "audio": plain(runtime.audio),
        "enrolled": runtime.enrolled,
        "cursor": state.cursor,
        "last_sync_ok_at": instant_text(state.last_sync_ok_at),
        "last_sync_error": state.last_sync_error,
        "sync_failures": state.sync_failures,
        "cache": {"files": status.cache.files, "size_bytes": status.cache.size_bytes},
        "storage_full": runtime.storage_full,
        "outbox": {"pending": counts.outbox_pending, "dropped": counts.plays_dropped},
        "catalogue": plain(counts),
        "clock": clock_json(clock),
        "downloads": plain(runtime.downloads) if runtime.downloads is not None else None,
        "system": dict(runtime.system) if runtime.system is not None else None,
        "push": {"state": runtime.push.state},
    }


def clock_json(clock: ClockStatus) -> dict[str, Any]:
    return {
        "trusted": clock.trusted,
        "plausible": clock.plausible,
        "offset_s": round(clock.offset_s, 3),
        "reason": clock.reason,
        "steps": clock.steps,
    }


def local_json(
    status: PlayerStatus, *, enrolled: bool, data_dir: Path, database: Path | None
) -> dict[str, Any]:
    """``lomuz-player status --json`` without the daemon's part (``database`` None: none yet)."""
    state, counts = status.state, status.counts
    return {
        "at": format_instant(status.at),
        "device": plain(state.device) if state.device is not None else None,
        "enrolled": enrolled,
        "cursor": state.cursor,
        "last_sync_at": instant_text(state.last_sync_ok_at),  # when the syncer last heard the API
        "counts": plain(counts),
        "cache": {"files": status.cache.files, "size_bytes": status.cache.size_bytes},
        "outbox_plays": counts.outbox_pending,
        "dropped_plays": state.plays_dropped,
        "quarantined_files": [
            {
                "sha256": f.sha256,
                "until": instant_text(f.quarantined_until),
                "reason": f.quarantine_reason,
            }
            for f in status.quarantined
        ],
        "state": dict(state.shown),
        "data_dir": str(data_dir),
        "database": str(database) if database is not None else None,
    }


def instant_text(value: datetime | None) -> str | None:
    """Stored instants as RFC 3339 UTC; a naive one (an older player's) as it is."""
    if value is None:
        return None
    return format_instant(value) if value.tzinfo is not None else value.isoformat()


def status_text(status: Mapping[str, Any], db_path: Path) -> Iterator[str]:
    """The text form of ``lomuz-player status`` (``status``: ``local_json`` plus "daemon")."""
    device = status["device"]
    yield "device     " + (
        f"{device['id']} ({device['name']}, {device['timezone']})" if device else "unknown"
    )
    if status.get("database_migrating"):
        yield (
            "database   the player is setting up its database (first start or upgrade): "
            "run this again in a few seconds"
        )
    elif status["database"] is None:
        yield f"database   none yet: no local state ({db_path})"
    yield f"enrolled   {'yes' if status['enrolled'] else 'no'}"
    yield f"cursor     {status['cursor'] or '-'}"
    yield f"last sync  {status['last_sync_at'] or 'never'}"
    cache = status["cache"]
    yield f"cache      {cache['files']} files, {cache['size_bytes']} bytes"
    yield f"outbox     {status['outbox_plays']} plays pending, {status['dropped_plays']} dropped"
    counts = status["counts"]
    yield (
        f"catalogue  {counts['assets']} assets, {counts['playlists']} playlists, "
        f"{counts['schedules']} schedules, {counts['files_present']} files verified"
    )
    for q in status["quarantined_files"]:
        yield f"quarantine {q['sha256'][:12]} until {q['until']}: {q['reason']}"
    for key, value in status["state"].items():
        yield f"{key:<10} {_state_text(key, value)}"
    if "push" in status:
        yield f"push       {status['push']['state']}"
    live = status.get("daemon")
    if live is None:
        yield "daemon     not running"
        return
    clock = live.get("clock") or {}
    playing = live.get("now_playing") or {}
    gain = playing.get("gain_db")
    gain_text = "" if gain is None else f", gain {gain:+.1f} dB ({playing.get('gain_reason')})"
    yield (
        f"playing    {playing.get('state', '?')} {playing.get('tier') or ''} "
        f"{playing.get('asset_id') or ''}".rstrip()
        + gain_text
    )
    yield (
        f"clock      {'trusted' if clock.get('trusted') else 'NOT trusted'}, "
        f"{clock.get('offset_text', 'offset unknown')} ({clock.get('reason')})"
    )
    downloads = live.get("downloads") or {}
    if downloads:
        yield (
            f"downloads  {downloads.get('pending', 0)} pending, "
            f"{len(downloads.get('failing') or [])} failing"
        )
        for failure in downloads.get("failing") or []:
            yield f"  {failure['sha256'][:12]}: {failure['last_error']}"
    if live.get("storage_full"):
        yield "storage    FULL: the scheduled media does not fit the cache budget"


def add_offset_text(live: dict[str, Any] | None) -> None:
    """The daemon's clock offset in words, for a technician (``clock.offset_text``)."""
    clock = (live or {}).get("clock") or {}
    if isinstance(clock.get("offset_s"), int | float):
        clock["offset_text"] = describe_offset(float(clock["offset_s"]))


def _state_text(key: str, value: str) -> str:
    if key == "clock_offset_s":
        try:
            return describe_offset(float(value))
        except ValueError:
            return value
    return value
