"""The OpenAPI operations of remote commands (PROTOCOL.md "Push and remote commands")."""

from __future__ import annotations

from typing import Any

from control_api.openapi_parts import (
    ADMIN,
    AUTH,
    DEVICE,
    JSON_IN,
    LIST_PARAMS,
    body,
    errors,
    ok,
    param,
)

_ACK_DESIGN = (
    "Devices acknowledge over HTTP, not MQTT: the API needs no broker subscriber per "
    "process, the device token already authenticates the device, and broker ACLs only "
    "need each device to read its own topics."
)


def commands_paths() -> dict[str, Any]:
    device_id = param("id", "path", {"type": "string"}, "The device's id.")
    command_id = param("command_id", "path", {"type": "string"}, "The command's id.")
    return {
        "/v1/devices/{id}/commands": {
            "parameters": [device_id],
            "get": {
                "tags": ["Devices"],
                "summary": "List the device's remote commands, newest first",
                "description": (
                    "Every state, with the device's results; commands go with their device "
                    "when it is decommissioned."
                ),
                "operationId": "listCommands",
                "security": ADMIN,
                "parameters": LIST_PARAMS,
                "responses": {
                    **ok("200", "One page, newest first.", "CommandPage"),
                    **errors("BadRequest", *AUTH, "NotFound", "Unprocessable"),
                },
            },
            "post": {
                "tags": ["Devices"],
                "summary": "Send the device a remote command",
                "description": (
                    "Stored `pending`, then published to the device's MQTT topic "
                    "`lomuz/v1/devices/{id}/commands` (QoS 1, not retained) when a broker is "
                    "configured and reachable; else the device picks it up at its next sync "
                    "(GET /v1/device/commands). `value` is for `volume` only (0..100). "
                    "`expires_at` defaults to 10 min ahead and may be at most 24 h ahead; a "
                    "command not done or failed by then reads `expired` and is never run. "
                    "Devices run each command id at most once. `snapshot` answers, in "
                    "`result`, what is playing now: item, tier, position, volume, output state."
                ),
                "operationId": "sendCommand",
                "security": ADMIN,
                "requestBody": body("CommandInput"),
                "responses": {
                    **ok(
                        "202",
                        "Accepted: the command, pending.",
                        "Command",
                        {
                            "Location": {
                                "description": "The command's path.",
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    **errors(*AUTH, *JSON_IN, "NotFound"),
                },
            },
        },
        "/v1/devices/{id}/commands/{command_id}": {
            "parameters": [device_id, command_id],
            "get": {
                "tags": ["Devices"],
                "summary": "Get a remote command: its state and the device's result",
                "operationId": "getCommand",
                "security": ADMIN,
                "responses": {
                    **ok("200", "The command.", "Command"),
                    **errors(*AUTH, "NotFound"),
                },
            },
        },
        "/v1/device/commands": {
            "get": {
                "tags": ["Device"],
                "summary": "The device's commands still to run (pending or delivered, unexpired)",
                "description": (
                    "The pick-up for commands the broker did not deliver (none configured, "
                    "down, or the device was away); oldest first, at most 50."
                ),
                "operationId": "openCommands",
                "security": DEVICE,
                "responses": {
                    **ok("200", "The open commands.", "CommandList"),
                    **errors(*AUTH, "BadRequest", "Unprocessable"),
                },
            }
        },
        "/v1/device/commands/{command_id}": {
            "parameters": [command_id],
            "post": {
                "tags": ["Device"],
                "summary": "Acknowledge a command: delivered, done or failed (idempotent)",
                "description": (
                    "States only move forward (pending, delivered, then done or failed); an "
                    "acknowledgement of the state the command has, or an earlier one, changes "
                    "nothing. 409 `command_expired` once expired, `command_finished` when it "
                    "contradicts done or failed; 404 for another device's command. " + _ACK_DESIGN
                ),
                "operationId": "acknowledgeCommand",
                "security": DEVICE,
                "requestBody": body("CommandAck"),
                "responses": {
                    **ok("200", "The command as it is now.", "Command"),
                    **errors(*AUTH, *JSON_IN, "NotFound", "Conflict"),
                },
            },
        },
        "/v1/device/push-credentials": push_credentials_path(),
    }


def push_credentials_path() -> dict[str, Any]:
    return {
        "post": {
            "tags": ["Device"],
            "summary": "Issue (or rotate) the device's own broker account",
            "description": (
                "Creates the device's account on the MQTT broker, or gives it a new "
                "password (the old one stops working at once), and answers where to "
                "connect and as whom. The account may subscribe only to "
                "`lomuz/v1/devices/{id}/#` and publish only to "
                "`lomuz/v1/devices/{id}/presence`. No body. 503 `push_unavailable` "
                "(Retry-After) when the server does not manage broker accounts "
                "(LOMUZ_MQTT_MANAGE_ACCOUNTS) or the broker did not answer within 3 s: "
                "the device keeps polling and asks later. Revoking the device token "
                "(decommission, a new enrollment code) deletes the account; a token "
                "revoked while the account was being made gets 401 `invalid_token` "
                "and the account is deleted."
            ),
            "operationId": "issuePushCredentials",
            "security": DEVICE,
            "responses": {
                **ok("200", "The device's broker URL, user name and password.", "PushCredentials"),
                **errors(*AUTH, "Unprocessable", "PushUnavailable"),
            },
        }
    }
