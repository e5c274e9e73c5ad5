"""What the panel shows of presence and alerts: the kinds and events in a shop
director's words, whether the webhooks got an event, and since when a device is
online or offline (``panel.device_alerts`` builds the pages' contexts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from control_api.core.alert_summary import AlertEvent
from control_api.panel.device_views import DeviceRow
from control_api.services import alerts

# What each kind means to a shop director (the API's names are docs/ALERTS.md's).
KIND_LABELS = {
    "offline": "Offline",
    "storage_full": "Storage full",
    "playback_stopped": "Playback stopped",
    "sync_failing": "Sync failing",
}
KIND_DETAILS = {
    "offline": "the box has not been heard from for longer than the alert allows",
    "storage_full": "the box cannot fit all of its scheduled media",
    "playback_stopped": "no music: stopped, no sound output, or nothing to play",
    "sync_failing": "the box keeps failing to fetch its updates",
}
EVENT_LABELS = {
    "device.offline": "Went offline",
    "device.online": "Back online",
    "device.storage_full": "Storage full",
    "device.playback_stopped": "Playback stopped",
    "device.sync_failing": "Sync failing",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def kind_detail(kind: str) -> str:
    return KIND_DETAILS.get(kind, "")


def event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type)


def delivery_text(event: AlertEvent) -> str:
    """Whether the webhooks got the event, in a line."""
    many = event.receivers > 1
    if event.state == "delivered":
        return f"delivered to {event.receivers} webhooks" if many else "delivered"
    why = f": {event.last_problem}" if event.last_problem else ""
    if event.state == "failed":
        part = f" for {event.failed} of {event.receivers} webhooks" if many else ""
        return f"failed{part}, no more tries{why}"
    text = f"pending, {event.delivered} of {event.receivers} delivered" if many else "pending"
    return f"{text}; retrying after a failed try{why}" if why else text


@dataclass(frozen=True)
class PresenceNow:
    """Online or offline, and since when when it is known."""

    state: str  # online | offline | never
    since: datetime | None


def presence_now(device: Any, row: DeviceRow, now: datetime, interval_s: int) -> PresenceNow:
    """Offline: since the device went silent (its will, else its last request), as the
    alerts judge it; online: since its push link said so, unknown when it only polls."""
    if row.state == "offline":
        return PresenceNow("offline", alerts.device_presence(device, now, interval_s).silent_since)
    if row.state == "online" and device.presence_state == "online":
        return PresenceNow("online", device.presence_changed_at)
    return PresenceNow(row.state, None)
