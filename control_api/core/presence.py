"""When a device counts as online: seen within three telemetry intervals."""

from __future__ import annotations

from datetime import datetime, timedelta


def online_since(now: datetime, telemetry_interval_s: int) -> datetime:
    """The oldest ``last_seen_at`` of a device that is online at ``now``."""
    return now - timedelta(seconds=3 * telemetry_interval_s)


def is_online(last_seen_at: datetime | None, now: datetime, telemetry_interval_s: int) -> bool:
    return last_seen_at is not None and last_seen_at >= online_since(now, telemetry_interval_s)
