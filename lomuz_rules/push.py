"""Push over MQTT: the topics, the nudge payload and the broker URL, for both sides.

The API publishes, the player subscribes; both read these rules from here so
the wire cannot drift (DESIGN §8). Nothing here opens a socket.

Invariants:
- A device's topics live under ``lomuz/v1/devices/<device_id>/``: a broker ACL
  can give each device read access to its own subtree only (a later part adds
  per-device credentials). The nudge is ``.../nudge``; remote commands go to
  ``.../commands`` (QoS 1, *not* retained; ``lomuz_rules.commands``).
- A nudge carries no content: ``{"revision": <int>}``, the tenant revision the
  device's manifest cursor would name after the change (the number before the
  "." of a cursor ``"<revision>.<scope>"``). It is published with QoS 1 and
  *retained*, so a device that was offline or reconnecting gets the latest one
  on subscribe and syncs only if its cursor is behind it (a fleet reconnecting
  after a broker restart does not all sync at once).
- A payload that is not exactly such a small JSON object is no nudge: decoding
  never raises, it answers None.
- Presence is ``.../presence``: ``{"state": "online"}`` published by the device on
  every connect, ``{"state": "offline"}`` on a clean stop and as its MQTT last will
  (the broker publishes it when the connection dies without a DISCONNECT). QoS 1,
  retained, so a subscriber that starts late reads every device's current state.
  Anything else decodes to None (never raises).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

TOPIC_ROOT = "lomuz/v1/devices"
NUDGE_QOS = 1
MAX_NUDGE_BYTES = 256  # a real nudge is ~20 bytes; anything longer is not read
MAX_REVISION = 10**18  # cursors carry at most 18 digits (control_api.core.manifest)
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TOPIC_FORBIDDEN = frozenset("+#/\x00")
PRESENCE_QOS = 1
PRESENCE_LEAF = "presence"
PRESENCE_FILTER = f"{TOPIC_ROOT}/+/{PRESENCE_LEAF}"  # every device's presence (the API)
MAX_PRESENCE_BYTES = 64  # a real one is 18 or 19 bytes
PresenceState = Literal["online", "offline"]
PRESENCE_STATES: tuple[PresenceState, ...] = ("online", "offline")


def device_topic(device_id: str, leaf: str) -> str:
    """``lomuz/v1/devices/<device_id>/<leaf>``; ids with MQTT wildcards or "/" are refused."""
    if not device_id or _TOPIC_FORBIDDEN.intersection(device_id):
        raise ValueError(f"device id {device_id!r} cannot name an MQTT topic")
    return f"{TOPIC_ROOT}/{device_id}/{leaf}"


def nudge_topic(device_id: str) -> str:
    return device_topic(device_id, "nudge")


def commands_topic(device_id: str) -> str:
    return device_topic(device_id, "commands")


def presence_topic(device_id: str) -> str:
    return device_topic(device_id, PRESENCE_LEAF)


def presence_device_id(topic: str) -> str | None:
    """The device id a presence topic names, None for any other topic (never raises)."""
    prefix, suffix = f"{TOPIC_ROOT}/", f"/{PRESENCE_LEAF}"
    if not topic.startswith(prefix) or not topic.endswith(suffix):
        return None
    device_id = topic[len(prefix) : -len(suffix)]
    if not device_id or _TOPIC_FORBIDDEN.intersection(device_id):
        return None
    return device_id


def encode_presence(state: PresenceState) -> bytes:
    return json.dumps({"state": state}, separators=(",", ":")).encode()


def decode_presence(payload: bytes) -> PresenceState | None:
    """The state a presence message names, or None for anything else (never raises)."""
    if len(payload) > MAX_PRESENCE_BYTES:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    state = data.get("state")
    if state == "online":
        return "online"
    if state == "offline":
        return "offline"
    return None


def encode_nudge(revision: int) -> bytes:
    return json.dumps({"revision": revision}, separators=(",", ":")).encode()


def decode_nudge(payload: bytes) -> int | None:
    """The revision of a nudge, or None for anything that is not one (never raises)."""
    if len(payload) > MAX_NUDGE_BYTES:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(data, dict):
        return None
    revision = data.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int):
        return None
    return revision if 0 <= revision <= MAX_REVISION else None


def cursor_revision(cursor: str | None) -> int | None:
    """The revision a manifest cursor names, None when it names none (no cursor yet)."""
    if not cursor:
        return None
    text = cursor.strip().strip('"').partition(".")[0]
    if not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def nudge_wants_sync(revision: int | None, cursor: str | None) -> bool:
    """Whether a nudge should make the device sync now.

    Not for a non-nudge (None), nor when the cursor already names that revision or a
    later one (a retained nudge seen again at reconnect). A cursor that names no
    revision always syncs.
    """
    if revision is None:
        return False
    held = cursor_revision(cursor)
    return held is None or revision > held


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is: ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # For mqtts: a PEM file of the CA(s) to trust instead of the system's (a private CA).
    ca_file: str | None = None

    def display(self) -> str:
        """The URL without its password, for logs."""
        user = f"{self.username}@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"

    def display_without_user(self) -> str:
        """The URL with neither user nor password: what a device is told to dial."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def with_credentials(self, username: str, password: str) -> BrokerAddress:
        return BrokerAddress(self.host, self.port, self.tls, username, password)


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; ValueError naming what is wrong."""
    # urllib's own messages may quote part of a password (one holding "/" ends
    # the host part early, and what follows reads as a port): never pass them on.
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(
            "not a broker URL: the port is not a number (percent-encode any / ? # @ : "
            "in the user name or password)"
        ) from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError("has no host")
    try:  # paho's thread dies on a name the resolver cannot encode (an empty label, say)
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ValueError(f"host {parts.hostname!r} is not a valid host name") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be scheme://host[:port] only (no path or query)")
    return BrokerAddress(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
