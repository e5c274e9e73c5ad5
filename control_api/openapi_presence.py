"""The OpenAPI operation of device presence (issue 13: MQTT keepalive and last will)."""

from __future__ import annotations

from typing import Any

from control_api.openapi_parts import ADMIN, AUTH, LIST_PARAMS, errors, ok, param


def presence_paths() -> dict[str, Any]:
    device_id = param("id", "path", {"type": "string"}, "The device's id.")
    return {
        "/v1/devices/{id}/presence": {
            "parameters": [device_id],
            "get": {
                "tags": ["Devices"],
                "summary": "The device's presence transitions (online/offline), newest first",
                "description": (
                    "Each change of the device's MQTT presence, once: `online` when its push "
                    "link connects, `offline` when it stops cleanly or when the broker fires "
                    "its last will (a lost connection: within 1.5 x the player's 20 s "
                    "keepalive). `at` is when an API worker received it. Empty without a "
                    "broker (`LOMUZ_MQTT_URL`). Paged like every list (`limit`, `after`)."
                ),
                "operationId": "listDevicePresence",
                "security": ADMIN,
                "parameters": LIST_PARAMS,
                "responses": {
                    **ok("200", "One page.", "PresenceEventList"),
                    **errors("BadRequest", *AUTH, "NotFound", "Unprocessable"),
                },
            },
        },
    }
