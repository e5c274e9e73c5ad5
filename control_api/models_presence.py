"""Device presence as the API shows it (issue 13: MQTT keepalive and last will)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from control_api.model_fields import Instant, NextPage


class DevicePresence(Struct, kw_only=True):
    """The device's MQTT connection as the broker last told it."""

    state: Annotated[
        Literal["online", "offline", "unknown"],
        Meta(description="unknown: never heard over MQTT (no broker, or an older player)."),
    ]
    since: Annotated[Instant | None, Meta(description="When the state last changed.")]


class PresenceEvent(Struct, kw_only=True):
    """One transition of a device's presence, as an API worker received it."""

    state: Literal["online", "offline"]
    at: Instant


class PresenceEventList(Struct):
    items: list[PresenceEvent]
    next: NextPage
