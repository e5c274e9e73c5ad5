"""Telemetry: a device reports its status; it counts as seen; its alerts are evaluated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from control_api.services import alerts
from control_api.store.db import Database
from control_api.store.models import Device


def report_status(
    db: Database, device_id: str, status: dict[str, Any], now: datetime, telemetry_interval_s: int
) -> int:
    """Store the device's latest status (free JSON, checked by the caller); how many
    webhook deliveries its alerts queued (sent later, by the sender thread)."""
    with db.write() as s:
        device = s.get(Device, device_id)
        if device is None:
            return 0
        device.status = status
        device.last_seen_at = now
        return alerts.on_telemetry(s, device, status, now, telemetry_interval_s)
