"""The OpenAPI operations of ``/v1/webhooks`` (alerts; a part of ``control_api.openapi``)."""

from __future__ import annotations

from typing import Any

from control_api.openapi_parts import (
    ADMIN,
    AUTH,
    JSON_IN,
    LIST_PARAMS,
    LOCATION,
    body,
    errors,
    ok,
    param,
)

TAG = "Alerts"  # described in openapi_parts.TAGS
_CREATE = (
    "Events: `device.offline` (not online and silent for `offline_after_s`, default 600), "
    "`device.online` (back after `device.offline`), `device.storage_full`, "
    "`device.playback_stopped` (stopped, no sound output, or playing silence), "
    "`device.sync_failing` (`sync_failures` consecutive failed syncs, default 5). Each "
    "fires once per device until its condition clears. Every event is POSTed as JSON "
    '`{"id", "type", "created_at", "tenant_id", "device": {"id", "name"}, "data"}` with '
    "`X-Lomuz-Event`, `X-Lomuz-Delivery` and `X-Lomuz-Signature: t=<unix>,v1=<hex "
    'HMAC-SHA256(secret, t + "." + body)>`; a 2xx answer delivers it, anything else is '
    "retried (30 s doubling to 1 h, jittered) until 15 attempts or 24 h, then `failed`. "
    "The URL must be https:// (422 otherwise). 409 `too_many_webhooks` past 20 per tenant."
)


def webhooks_paths() -> dict[str, Any]:
    webhook_id = param("id", "path", {"type": "string"}, "The webhook's id.")
    return {
        "/v1/webhooks": {
            "get": {
                "tags": [TAG],
                "summary": "List the tenant's webhooks (without their secrets)",
                "operationId": "listWebhooks",
                "security": ADMIN,
                "parameters": LIST_PARAMS,
                "responses": {
                    **ok("200", "One page, in id order.", "WebhookList"),
                    **errors("BadRequest", *AUTH, "Unprocessable"),
                },
            },
            "post": {
                "tags": [TAG],
                "summary": "Create a webhook for device alerts; its secret is shown only here",
                "description": _CREATE,
                "operationId": "createWebhook",
                "security": ADMIN,
                "requestBody": body("WebhookInput"),
                "responses": {
                    **ok("201", "Created, with its secret.", "WebhookCreated", LOCATION),
                    **errors(*AUTH, *JSON_IN, "Conflict"),
                },
            },
        },
        "/v1/webhooks/{id}": {
            "parameters": [webhook_id],
            "get": {
                "tags": [TAG],
                "summary": "Get a webhook (without its secret)",
                "operationId": "getWebhook",
                "security": ADMIN,
                "responses": {
                    **ok("200", "The webhook.", "Webhook"),
                    **errors(*AUTH, "NotFound"),
                },
            },
            "delete": {
                "tags": [TAG],
                "summary": "Delete a webhook, its open alerts and its delivery log",
                "operationId": "deleteWebhook",
                "security": ADMIN,
                "responses": {
                    "204": {"description": "Deleted."},
                    **errors(*AUTH, "NotFound"),
                },
            },
        },
        "/v1/webhooks/{id}/deliveries": {
            "parameters": [webhook_id],
            "get": {
                "tags": [TAG],
                "summary": "The webhook's delivery log, newest first (kept 30 days)",
                "description": (
                    "Each event sent to the webhook: `pending` (to be tried at "
                    "`next_attempt_at`), `delivered` or `failed`, with the attempts made and "
                    "the last answer's status or error."
                ),
                "operationId": "listWebhookDeliveries",
                "security": ADMIN,
                "parameters": LIST_PARAMS,
                "responses": {
                    **ok("200", "One page, newest first.", "DeliveryList"),
                    **errors("BadRequest", *AUTH, "NotFound", "Unprocessable"),
                },
            },
        },
    }
