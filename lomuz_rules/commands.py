"""Remote commands: their types, values and the message on a device's commands topic.

The API stores a command and publishes it to ``lomuz/v1/devices/<id>/commands``
(``lomuz_rules.push.commands_topic``); the player runs it and acknowledges it
over HTTP (``POST /v1/device/commands/{id}``). Both sides read these rules.

Invariants:
- A command is ``{"id", "type", "value"?, "expires_at"}``; ``type`` is one of
  :data:`COMMAND_TYPES`. Only ``volume`` has a value: an integer 0..100.
- The message is published with QoS 1 and *not* retained: a command is for
  now, and one a device missed while away is picked up over HTTP at its next
  sync (``GET /v1/device/commands``) until it expires.
- The id makes a command idempotent: a device runs each id at most once,
  however often the broker or the HTTP pick-up hands it over.
- Decoding never raises: anything but a small JSON object with those fields,
  rightly typed, answers None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

CommandType = Literal["sync", "skip", "volume", "restart_playback", "snapshot"]
CommandState = Literal["pending", "delivered", "done", "failed", "expired"]
AckState = Literal["delivered", "done", "failed"]
COMMAND_TYPES: Final = frozenset(get_args(CommandType))
COMMAND_STATES: Final = frozenset(get_args(CommandState))
ACK_STATES: Final = frozenset(get_args(AckState))
COMMAND_QOS: Final = 1
MAX_COMMAND_BYTES: Final = 1024  # a real command is ~150 bytes; anything longer is not read
MAX_COMMAND_ID_CHARS: Final = 64
MAX_VOLUME: Final = 100


@dataclass(frozen=True)
class CommandMessage:
    """A command as a device receives it."""

    id: str
    type: CommandType
    value: int | None
    expires_at: datetime


def value_problem(command_type: str, value: object) -> str | None:
    """Why ``value`` cannot go with a command of ``command_type`` (None: it can)."""
    if command_type == "volume":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer 0..100 for a volume command"
        if not 0 <= value <= MAX_VOLUME:
            return "must be 0..100"
        return None
    if value is not None:
        return f"a {command_type} command takes no value"
    return None


def encode_command(message: CommandMessage) -> bytes:
    body: dict[str, Any] = {"id": message.id, "type": message.type}
    if message.value is not None:
        body["value"] = message.value
    body["expires_at"] = format_instant(message.expires_at)
    return json.dumps(body, separators=(",", ":")).encode()


def format_instant(at: datetime) -> str:
    """An aware instant as UTC with millisecond precision and ``Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_command(data: object) -> CommandMessage | None:
    """A decoded JSON value as a command, or None (never raises)."""
    if not isinstance(data, dict):
        return None
    command_id, command_type = data.get("id"), data.get("type")
    value, expires_text = data.get("value"), data.get("expires_at")
    if not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_COMMAND_ID_CHARS:
        return None
    if not command_id.isascii() or not command_id.isprintable():
        return None
    if not isinstance(command_type, str) or command_type not in COMMAND_TYPES:
        return None
    if value_problem(command_type, value) is not None:
        return None
    if not isinstance(expires_text, str) or len(expires_text) > 40:
        return None
    try:
        expires_at = datetime.fromisoformat(expires_text)
    except ValueError:
        return None
    if expires_at.utcoffset() is None:
        return None
    return CommandMessage(command_id, command_type, value, expires_at)  # type: ignore[arg-type]


def decode_command(payload: bytes) -> CommandMessage | None:
    """The command a message carries, or None for anything that is not one (never raises)."""
    if len(payload) > MAX_COMMAND_BYTES:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return parse_command(data)
