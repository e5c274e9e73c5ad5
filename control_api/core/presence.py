"""When a device counts as online.

A device that has MQTT presence (``presence_state``: its connection's state,
from the push link's "online" and its last will "offline") is online exactly
when that says so: it changes within seconds. A device never heard over MQTT
(no broker, an older player) is online when seen within three telemetry
intervals. ``store.devices.online_clause`` is the same rule in SQL.
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
    last_seen_at: datetime | None,
    now: datetime,
    telemetry_interval_s: int,
) -> bool:
    if presence_state is not None:
        return presence_state == "online"
    return last_seen_at is not None and last_seen_at >= online_since(now, telemetry_interval_s)


def presence(presence_state: str | None) -> Presence:
    """The MQTT presence as the API shows it: "unknown" when never heard over MQTT."""
    if presence_state == "online":
        return "online"
    if presence_state == "offline":
        return "offline"
    return "unknown"
