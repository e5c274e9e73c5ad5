"""Per-device broker accounts as Mosquitto dynamic-security requests (pure; no I/O).

The API manages the broker's accounts by publishing JSON requests to
``$CONTROL/dynamic-security/v1`` and reading the answers on ``.../response``
(``control_api.broker_dynsec`` does the I/O). This module builds the requests
and reads the answers.

Invariants:
- A device's broker user name is its device id. Its one role,
  ``lomuz-device-<id>``, may subscribe to ``lomuz/v1/devices/<id>/#`` (its
  nudges and commands) and publish only to ``lomuz/v1/devices/<id>/presence``
  (its status and last will). One role per device because Mosquitto 2.0's
  dynamic-security ACLs do not substitute ``%u``/``%c`` (tried against 2.0.11:
  a role with ``lomuz/v1/devices/%u/#`` denies the device its own topics).
- Everything else is refused by the plugin's default access (publish and
  subscribe denied), which the production setup leaves as ``dynsec init`` made it.
- Issuing is idempotent and rotates: delete the client (which also disconnects
  a session holding the old password), create the role (an existing one is
  fine: its ACLs never change), create the client with a new password.
  Deleting tolerates an account that is already gone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lomuz_rules.push import TOPIC_ROOT, device_topic

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
CONTROL_ACL_TOPIC = "$CONTROL/dynamic-security/#"
DEVICE_ROLE_PREFIX = "lomuz-device-"
API_ROLE = "lomuz-api"
# The plugin's words for "there was nothing to delete / it exists already" (2.0.x).
_ABSENT = ("not found",)
_PRESENT = ("already exists",)

Command = dict[str, Any]


def device_role(device_id: str) -> str:
    device_topic(device_id, "x")  # refuses ids that cannot name a topic
    return f"{DEVICE_ROLE_PREFIX}{device_id}"


def device_acls(device_id: str) -> list[Command]:
    return [
        {"acltype": "subscribePattern", "topic": device_topic(device_id, "#"), "allow": True},
        {
            "acltype": "publishClientSend",
            "topic": device_topic(device_id, "presence"),
            "allow": True,
        },
    ]


def api_acls() -> list[Command]:
    """The API's own account: nudges and commands out, presence in (and its retained
    message cleared when a device goes), the plugin's control."""
    return [
        {"acltype": "publishClientSend", "topic": f"{TOPIC_ROOT}/+/nudge", "allow": True},
        {"acltype": "publishClientSend", "topic": f"{TOPIC_ROOT}/+/commands", "allow": True},
        {"acltype": "publishClientSend", "topic": f"{TOPIC_ROOT}/+/presence", "allow": True},
        {"acltype": "subscribePattern", "topic": f"{TOPIC_ROOT}/+/presence", "allow": True},
        {"acltype": "publishClientReceive", "topic": f"{TOPIC_ROOT}/+/presence", "allow": True},
        # As the admin role of `mosquitto_ctrl dynsec init` has it: "$" topics need
        # every direction allowed explicitly.
        {"acltype": "publishClientSend", "topic": CONTROL_ACL_TOPIC, "allow": True},
        {"acltype": "publishClientReceive", "topic": CONTROL_ACL_TOPIC, "allow": True},
        {"acltype": "subscribePattern", "topic": CONTROL_ACL_TOPIC, "allow": True},
    ]


@dataclass(frozen=True)
class Step:
    """One dynamic-security command and whether its "already so" failure is fine."""

    command: Command
    tolerate: tuple[str, ...] = ()


def issue_steps(device_id: str, password: str) -> list[Step]:
    role = device_role(device_id)
    return [
        Step({"command": "deleteClient", "username": device_id}, _ABSENT),
        Step({"command": "createRole", "rolename": role, "acls": device_acls(device_id)}, _PRESENT),
        Step(
            {
                "command": "createClient",
                "username": device_id,
                "password": password,
                "roles": [{"rolename": role}],
            }
        ),
    ]


def delete_steps(device_id: str) -> list[Step]:
    return [
        Step({"command": "deleteClient", "username": device_id}, _ABSENT),
        Step({"command": "deleteRole", "rolename": device_role(device_id)}, _ABSENT),
    ]


def api_account_steps(username: str, password: str) -> list[Step]:
    """Create the API's account (operators and tests; ``docs/OPERATIONS.md``)."""
    return [
        Step({"command": "createRole", "rolename": API_ROLE, "acls": api_acls()}, _PRESENT),
        Step(
            {
                "command": "createClient",
                "username": username,
                "password": password,
                "roles": [{"rolename": API_ROLE}],
            }
        ),
    ]


def encode_request(steps: Sequence[Step], correlation: str) -> bytes:
    """One request carrying every step; each answer names ``<correlation>:<index>``."""
    commands = [
        {**step.command, "correlationData": f"{correlation}:{i}"} for i, step in enumerate(steps)
    ]
    return json.dumps({"commands": commands}, separators=(",", ":")).encode()


def correlations_of(payload: bytes) -> dict[str, str | None]:
    """``correlationData`` → its error (None: success) of every answer in a response
    payload; an unreadable payload has none (never raises)."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return {}
    responses = data.get("responses") if isinstance(data, dict) else None
    if not isinstance(responses, list):
        return {}
    out: dict[str, str | None] = {}
    for response in responses:
        if not isinstance(response, dict):
            continue
        correlation = response.get("correlationData")
        error = response.get("error")
        if isinstance(correlation, str):
            out[correlation] = str(error) if error is not None else None
    return out


def first_failure(
    steps: Sequence[Step], correlation: str, answers: dict[str, str | None]
) -> str | None:
    """Why the request failed (the first step whose error is not tolerated), else None."""
    for i, step in enumerate(steps):
        error = answers.get(f"{correlation}:{i}", "no answer")
        if error is None:
            continue
        if any(word in error.lower() for word in step.tolerate):
            continue
        return f"{step.command['command']}: {error}"
    return None
