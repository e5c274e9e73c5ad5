"""Stored rows to model values, and back: the one place that knows the column shapes.

The converters from a row take SQLAlchemy's typed rows (instants as datetimes)
and plain ones (instants as stored, integer microseconds) alike. No SQLAlchemy
here: ``lomuz-player next`` (``player.store.decision_query`` on stdlib sqlite3)
converts with these too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from lomuz_rules.model import (
    Asset,
    MediaType,
    Override,
    Schedule,
    TargetKind,
    Tier,
)
from player.core.files import FileState
from player.core.model import DeviceInfo, Outcome, Play
from player.store.read_only import from_micros


def instant(value: Any) -> datetime | None:
    """A stored instant, whether SQLAlchemy converted it already or not."""
    if value is None or isinstance(value, datetime):
        return value
    return from_micros(int(value))


def asset_from_row(row: Any) -> Asset:
    return Asset(
        id=row.id,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        media_type=MediaType(row.media_type),
        content_type=row.content_type,
        title=row.title,
        duration_ms=row.duration_ms,
        valid_from=instant(row.valid_from),
        valid_until=instant(row.valid_until),
        emergency=bool(row.emergency),
        url=row.url,
        loudness_lufs=row.loudness_lufs,
        true_peak_dbtp=row.true_peak_dbtp,
        cue_in_ms=row.cue_in_ms,
        cue_out_ms=row.cue_out_ms,
    )


def file_from_row(row: Any) -> FileState:
    return FileState(
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        present=bool(row.present),
        verified_at=instant(row.verified_at),
        quarantined_until=instant(row.quarantined_until),
        quarantine_reason=row.quarantine_reason,
        last_played_at=instant(row.last_played_at),
    )


def schedule_from_row(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        playlist_id=row.playlist_id,
        target=TargetKind(row.target),
        priority=row.priority,
        days=frozenset(int(d) for d in row.days.split(",") if d),
        start_minute=row.start_minute,
        end_minute=row.end_minute,
        valid_from=instant(row.valid_from),
        valid_until=instant(row.valid_until),
        created_at=_required(instant(row.created_at)),
        version=row.version,
    )


def override_from_row(row: Any) -> Override:
    return Override(
        id=row.id,
        playlist_id=row.playlist_id,
        target=TargetKind(row.target),
        until=_required(instant(row.until)),
        created_at=_required(instant(row.created_at)),
    )


def override_to_row(o: Override) -> dict[str, Any]:
    return {
        "id": o.id,
        "playlist_id": o.playlist_id,
        "target": o.target.value,
        "until": o.until,
        "created_at": o.created_at,
    }


def _required(value: datetime | None) -> datetime:
    if value is None:
        raise ValueError("a stored instant that may not be NULL is NULL")
    return value


def play_from_row(row: Any) -> Play:
    return Play(
        id=row.id,
        asset_id=row.asset_id,
        sha256=row.sha256,
        started_at=row.started_at,
        ended_at=row.ended_at,
        source=Tier(row.source),
        outcome=Outcome(row.outcome),
        schedule_id=row.schedule_id,
        playlist_id=row.playlist_id,
    )


def play_to_row(play: Play) -> dict[str, Any]:
    return {
        "id": play.id,
        "asset_id": play.asset_id,
        "sha256": play.sha256,
        "started_at": play.started_at,
        "ended_at": play.ended_at,
        "source": play.source.value,
        "outcome": play.outcome.value,
        "schedule_id": play.schedule_id,
        "playlist_id": play.playlist_id,
        "uploaded": False,
    }


def asset_to_row(a: Asset) -> dict[str, Any]:
    return {
        "id": a.id,
        "sha256": a.sha256,
        "size_bytes": a.size_bytes,
        "media_type": a.media_type.value,
        "content_type": a.content_type,
        "title": a.title,
        "duration_ms": a.duration_ms,
        "valid_from": a.valid_from,
        "valid_until": a.valid_until,
        "emergency": a.emergency,
        "url": a.url,
        "loudness_lufs": a.loudness_lufs,
        "true_peak_dbtp": a.true_peak_dbtp,
        "cue_in_ms": a.cue_in_ms,
        "cue_out_ms": a.cue_out_ms,
    }


def schedule_to_row(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "playlist_id": s.playlist_id,
        "target": s.target.value,
        "priority": s.priority,
        "days": ",".join(str(d) for d in sorted(s.days)),
        "start_minute": s.start_minute,
        "end_minute": s.end_minute,
        "valid_from": s.valid_from,
        "valid_until": s.valid_until,
        "created_at": s.created_at,
        "version": s.version,
    }


def device_to_json(device: DeviceInfo) -> str:
    return json.dumps(
        {
            "id": device.id,
            "name": device.name,
            "timezone": device.timezone,
            "groups": list(device.groups),
        }
    )
