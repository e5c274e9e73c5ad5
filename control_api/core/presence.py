"""When a device counts as online.

Two signs of life: the MQTT presence (``presence_state`` and when it changed:
the push link's "online", its last will's "offline"; seconds) and the last
HTTP request (``last_seen_at``; telemetry comes every interval). A device is
online when it was seen within three telemetry intervals, or when its MQTT
presence says "online" and changed within that window, and a will's "offline"
stands until the device is seen again after it. So a box cut off shows offline
within seconds; a box that only polls (its broker link down) stays online; and
a stale "online" (the box died while the broker was down, so no will came)
ends three intervals after the last sign of life. ``store.devices.online_clause``
is the same rule in SQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

Presence = Literal["online", "offline", "unknown"]


def online_since(now: datetime, telemetry_interval_s: int) -> datetime:
    """The oldest ``last_seen_at`` of a device without MQTT presence that is online at ``now``."""
    return now - timedelta(seconds=3 * telemetry_interval_s)


def is_online(
    presence_state: str | None,
    presence_changed_at: datetime | None,
    last_seen_at: datetime | None,
    now: datetime,
    telemetry_interval_s: int,
) -> bool:
    boundary = online_since(now, telemetry_interval_s)
    seen = last_seen_at is not None and last_seen_at >= boundary
    if presence_state == "online":
        return seen or (presence_changed_at is not None and presence_changed_at >= boundary)
    if presence_state == "offline" and presence_changed_at is not None:
        return seen and last_seen_at is not None and last_seen_at > presence_changed_at
    return seen


def presence(presence_state: str | None) -> Presence:
    """The MQTT presence as the API shows it: "unknown" when never heard over MQTT."""
    if presence_state == "online":
        return "online"
    if presence_state == "offline":
        return "offline"
    return "unknown"
