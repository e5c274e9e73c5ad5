"""Push bodies (PROTOCOL "Push and remote commands"): remote commands' requests and
responses, and a device's issued broker credentials."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

from control_api.model_fields import Instant, InstantIn, NextPage
from lomuz_rules.commands import MAX_VOLUME, AckState, CommandState, CommandType


class CommandInput(Struct, forbid_unknown_fields=True):
    type: CommandType
    value: Annotated[int, Meta(ge=0, le=MAX_VOLUME, description="volume only: 0..100.")] | None = (
        None
    )
    expires_at: (
        Annotated[InstantIn, Meta(description="Default: 10 min from now; at most 24 h from now.")]
        | None
    ) = None


class CommandAck(Struct, forbid_unknown_fields=True):
    """A device's acknowledgement; ``failed`` carries ``{"error": text}`` in ``result``."""

    state: AckState
    result: dict[str, Any] | None = None


class Command(Struct, kw_only=True):
    id: str
    type: CommandType
    value: int | None
    state: CommandState
    result: dict[str, Any] | UnsetType = UNSET
    expires_at: Instant
    created_at: Instant
    updated_at: Instant


class CommandList(Struct):
    items: list[Command]


class CommandPage(Struct):
    """A device's commands, newest first (``GET /v1/devices/{id}/commands``)."""

    items: list[Command]
    next: NextPage


class PushCredentials(Struct, kw_only=True):
    """A device's own broker account (issue 13): dial ``url`` as ``username``/``password``.

    The account may read only ``lomuz/v1/devices/<id>/#`` and publish only
    ``lomuz/v1/devices/<id>/presence``. Asking again rotates the password.
    """

    url: Annotated[str, Meta(description="mqtt://host:port or mqtts://host:port (TLS).")]
    username: str
    password: str
