"""Webhooks' request and response bodies (issue 13, alerts; docs/ALERTS.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from control_api.core.alerts import DEFAULT_OFFLINE_AFTER_S, DEFAULT_SYNC_FAILURES
from control_api.core.webhooks import MAX_URL_CHARS
from control_api.model_fields import Instant

EventName = Literal[
    "device.offline",
    "device.online",
    "device.storage_full",
    "device.playback_stopped",
    "device.sync_failing",
]
DeliveryState = Literal["pending", "delivered", "failed"]
OfflineAfter = Annotated[
    int, Meta(ge=60, le=7 * 24 * 3600, description="Seconds silent before device.offline.")
]
SyncFailures = Annotated[
    int, Meta(ge=1, le=1000, description="Consecutive failed syncs before device.sync_failing.")
]


class WebhookInput(Struct, forbid_unknown_fields=True):
    url: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_URL_CHARS,
            description="https:// (http:// only with LOMUZ_WEBHOOKS_ALLOW_HTTP=1).",
        ),
    ]
    events: Annotated[list[EventName], Meta(min_length=1, max_length=5)]
    offline_after_s: OfflineAfter = DEFAULT_OFFLINE_AFTER_S
    sync_failures: SyncFailures = DEFAULT_SYNC_FAILURES


class Webhook(Struct, kw_only=True):
    id: str
    url: str
    events: list[EventName]
    offline_after_s: int
    sync_failures: int
    created_at: Instant


class WebhookCreated(Webhook, kw_only=True):
    secret: Annotated[
        str, Meta(description="The HMAC-SHA256 key of X-Lomuz-Signature; shown only here.")
    ]


class WebhookList(Struct):
    items: list[Webhook]
    next: str | None


class Delivery(Struct, kw_only=True):
    id: str
    event_id: str
    event_type: EventName
    device_id: str
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: Instant | None
    created_at: Instant
    delivered_at: Instant | None


class DeliveryList(Struct):
    items: list[Delivery]
    next: str | None
