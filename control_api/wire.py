"""The JSON shapes of the API's objects (PROTOCOL.md): every encoder in one place.

The store and the services return rows and domain results; the JSON resources
(and nothing below them) turn those into these shapes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from control_api.core.export import csv_cell
from control_api.core.presence import is_online
from control_api.core.validation import format_instant
from control_api.services.devices import Registered
from control_api.services.enrollment import Enrolled
from control_api.services.manifest import Snapshot
from control_api.services.playlists import PlaylistRecord
from control_api.services.plays import Ingested
from control_api.store.models import Asset, Device, Play, Playlist, PlaylistItem, Schedule

MANIFEST_SCHEMA = 1
PLAY_FIELDS = (
    "id",
    "device_id",
    "asset_id",
    "sha256",
    "started_at",
    "ended_at",
    "source",
    "outcome",
    "schedule_id",
    "playlist_id",
)


def page_json(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next": next_cursor}


def asset_json(a: Asset) -> dict[str, Any]:
    return {
        "id": a.id,
        "sha256": a.sha256,
        "size": a.size_bytes,
        "media_type": a.media_type,
        "content_type": a.content_type,
        "title": a.title,
        "filename": a.filename,
        "duration_ms": a.duration_ms,
        "valid_from": format_instant(a.valid_from),
        "valid_until": format_instant(a.valid_until),
        "emergency": a.emergency,
        "created_at": format_instant(a.created_at),
        "updated_at": format_instant(a.updated_at),
    }


def media_url(sha256: str) -> str:
    return f"/v1/media/{sha256}"


def playlist_json(p: Playlist, items: Sequence[PlaylistItem]) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "items": [{"asset_id": i.asset_id, "duration_ms": i.duration_ms} for i in items],
        "version": p.version,
        "created_at": format_instant(p.created_at),
        "updated_at": format_instant(p.updated_at),
    }


def playlist_record_json(record: PlaylistRecord) -> dict[str, Any]:
    return playlist_json(record.playlist, record.items)


def device_json(d: Device, now: datetime, telemetry_interval_s: int) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "timezone": d.timezone,
        "groups": list(d.groups),
        "enrolled": d.token_hash is not None,
        "last_seen_at": format_instant(d.last_seen_at),
        "online": is_online(d.last_seen_at, now, telemetry_interval_s),
        "status": d.status,
        "created_at": format_instant(d.created_at),
        "updated_at": format_instant(d.updated_at),
    }


def registered_json(r: Registered, now: datetime, telemetry_interval_s: int) -> dict[str, Any]:
    """A new device, with the one-time enrollment code (shown once)."""
    body = device_json(r.device, now, telemetry_interval_s)
    return {**body, "enrollment_code": r.enrollment_code}


def enrolled_json(e: Enrolled) -> dict[str, Any]:
    return {"device_id": e.device_id, "device_token": e.device_token}


def target_json(sc: Schedule) -> dict[str, Any]:
    if sc.target_kind == "device":
        return {"device_id": sc.target_value}
    if sc.target_kind == "group":
        return {"group": sc.target_value}
    return {"all": True}


def schedule_json(sc: Schedule, *, reduced_target: bool = False) -> dict[str, Any]:
    """``reduced_target``: the manifest's form, the target's kind alone."""
    return {
        "id": sc.id,
        "playlist_id": sc.playlist_id,
        "target": sc.target_kind if reduced_target else target_json(sc),
        "priority": sc.priority,
        "days": list(sc.days),
        "start_time": sc.start_time,
        "end_time": sc.end_time,
        "valid_from": format_instant(sc.valid_from),
        "valid_until": format_instant(sc.valid_until),
        "version": sc.version,
        "created_at": format_instant(sc.created_at),
        "updated_at": format_instant(sc.updated_at),
    }


def play_json(p: Play) -> dict[str, Any]:
    return {
        "id": p.id,
        "device_id": p.device_id,
        "asset_id": p.asset_id,
        "sha256": p.sha256,
        "started_at": format_instant(p.started_at),
        "ended_at": format_instant(p.ended_at),
        "source": p.source,
        "outcome": p.outcome,
        "schedule_id": p.schedule_id,
        "playlist_id": p.playlist_id,
    }


def plays_csv(pages: Iterable[Sequence[Play]]) -> Iterator[bytes]:
    """The CSV export: a header row, then one chunk of bytes per page of plays."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PLAY_FIELDS)
    header_sent = False
    for rows in pages:
        for play in rows:
            record = play_json(play)
            writer.writerow([csv_cell(record[f]) for f in PLAY_FIELDS])
        yield buffer.getvalue().encode()
        header_sent = True
        buffer.seek(0)
        buffer.truncate()
    if not header_sent:
        yield buffer.getvalue().encode()


def ingested_json(result: Ingested) -> dict[str, Any]:
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [r.as_json() for r in result.rejected],
    }


def manifest_json(m: Snapshot, sync_interval_s: int) -> dict[str, Any]:
    device = m.device
    return {
        "schema": MANIFEST_SCHEMA,
        "cursor": m.cursor,
        "full": m.full,
        "server_time": format_instant(m.server_time),
        "sync_interval_s": sync_interval_s,
        "device": {
            "id": device.id,
            "name": device.name,
            "timezone": device.timezone,
            "groups": list(device.groups),
        },
        "assets": [{**asset_json(a), "url": media_url(a.sha256)} for a in m.assets],
        "playlists": [playlist_record_json(p) for p in m.playlists],
        "schedules": [schedule_json(x, reduced_target=True) for x in m.schedules],
        "deleted": {
            "assets": list(m.deleted_assets),
            "playlists": list(m.deleted_playlists),
            "schedules": list(m.deleted_schedules),
        },
    }
