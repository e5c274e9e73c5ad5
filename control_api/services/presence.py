"""Device presence: store what the broker says about a device's connection, list its
transitions (``store.presence``: the idempotent write)."""

from __future__ import annotations

from datetime import datetime

from control_api.services.pages import Page
from control_api.store import devices as device_rows
from control_api.store import presence as presence_rows
from control_api.store.db import Database
from control_api.store.models import DevicePresenceEvent
from control_api.store.presence import Recorded
from lomuz_rules.push import PresenceState

__all__ = ["Recorded", "list_presence_events", "record_presence"]


def record_presence(
    db: Database, device_id: str, state: PresenceState, received_at: datetime
) -> Recorded:
    """The device's presence is ``state`` since ``received_at``; recorded once however
    many workers (or redeliveries) report it. Unknown device ids change nothing."""
    with db.write() as s:
        return presence_rows.record_presence(s, device_id, state, received_at)


def list_presence_events(
    db: Database, tenant_id: str, device_id: str, limit: int, after: str | None
) -> Page[DevicePresenceEvent]:
    """The device's transitions, newest first; NotFound for another tenant's device."""
    with db.read() as s:
        device_rows.get_device(s, tenant_id, device_id)
        rows, nxt = presence_rows.page_presence_events(s, tenant_id, device_id, limit, after)
    return Page(rows, nxt)
