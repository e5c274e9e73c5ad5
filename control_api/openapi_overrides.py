"""The OpenAPI operations of ``/v1/overrides`` (a part of ``control_api.openapi``)."""

from __future__ import annotations

from typing import Any

from control_api.openapi_parts import ADMIN, AUTH, JSON_IN, LIST_PARAMS, LOCATION, body, errors, ok

TAG = "Overrides"  # described in openapi_parts.TAGS


def override_paths(id_param: Any) -> dict[str, Any]:
    """``/v1/overrides`` and ``/v1/overrides/{id}``."""
    return {
        "/v1/overrides": {
            "get": {
                "tags": [TAG],
                "summary": "List the overrides that have not ended",
                "operationId": "listOverrides",
                "security": ADMIN,
                "parameters": LIST_PARAMS,
                "responses": {
                    **ok("200", "One page, in id order.", "OverrideList"),
                    **errors("BadRequest", *AUTH, "Unprocessable"),
                },
            },
            "post": {
                "tags": [TAG],
                "summary": "Play a playlist on a target now, until an instant",
                "description": (
                    "It plays from its `created_at` (now) until `until`, above every "
                    "schedule, on every device the target reaches; the devices learn of it "
                    "at their next sync and end it by themselves at `until`, online or not. "
                    "Among active overrides the most specific target wins (device, then "
                    "group, then all), then the newest. One whose playlist has nothing "
                    "playable falls through to the schedules. 422 `unknown_playlist` or "
                    "`unknown_device` for an object the tenant does not have; `until` must "
                    "be in the future and at most 31 days ahead."
                ),
                "operationId": "createOverride",
                "security": ADMIN,
                "requestBody": body("OverrideInput"),
                "responses": {
                    **ok("201", "Created.", "Override", LOCATION),
                    **errors(*AUTH, *JSON_IN),
                },
            },
        },
        "/v1/overrides/{id}": {
            "parameters": [id_param],
            "get": {
                "tags": [TAG],
                "summary": "Get an override (also one that has ended, until it is removed)",
                "operationId": "getOverride",
                "security": ADMIN,
                "responses": {
                    **ok("200", "The override.", "Override"),
                    **errors(*AUTH, "NotFound"),
                },
            },
            "delete": {
                "tags": [TAG],
                "summary": "End an override now",
                "description": "The devices fall back to their schedules at their next sync.",
                "operationId": "deleteOverride",
                "security": ADMIN,
                "responses": {
                    "204": {"description": "Deleted."},
                    **errors(*AUTH, "NotFound"),
                },
            },
        },
    }
