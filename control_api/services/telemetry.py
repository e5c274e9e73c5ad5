"""Telemetry: a device reports its status; it counts as seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from control_api.store.db import Database
from control_api.store.models import Device


def report_status(db: Database, device_id: str, status: dict[str, Any], now: datetime) -> None:
    """Store the device's latest status (free JSON, checked by the caller)."""
    with db.write() as s:
        device = s.get(Device, device_id)
        if device is not None:
            device.status = status
            device.last_seen_at = now
