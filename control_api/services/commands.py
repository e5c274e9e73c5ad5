"""Remote commands: a director sends one to a device, the device picks it up and
acknowledges it (``control_api.core.commands``: the state rules).

Creating a command commits it, then hands it to the publisher: the row exists
before the device can acknowledge it, and a publish that cannot happen (no
broker, broker down) leaves the command pending for the device's HTTP pick-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from control_api.core import commands as rules
from control_api.services.pages import Page
from control_api.store import commands as command_rows
from control_api.store import devices as device_rows
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import DeviceCommand
from lomuz_rules.commands import AckState, CommandMessage, CommandState

MAX_PICKED_UP = 50


@dataclass(frozen=True)
class CommandView:
    """A command as the API answers it: the stored row and its state at read time."""

    row: DeviceCommand
    state: CommandState
    updated_at: datetime

    @property
    def message(self) -> CommandMessage:
        row = self.row
        return CommandMessage(row.id, row.type, row.value, row.expires_at)  # type: ignore[arg-type]


def _view(row: DeviceCommand, now: datetime) -> CommandView:
    state = rules.effective_state(row.state, row.expires_at, now)
    # An expired command changed state when it expired, not when it was last written.
    updated_at = row.expires_at if state == "expired" else row.updated_at
    return CommandView(row, state, updated_at)


def send_command(
    db: Database,
    tenant_id: str,
    device_id: str,
    *,
    command_type: str,
    value: int | None,
    expires_at: datetime | None,
    now: datetime,
    publish: Callable[[CommandMessage], bool],
) -> CommandView:
    """Store a pending command for the tenant's device (NotFound otherwise), then publish it."""
    expiry = rules.expires_at_for(expires_at, now)
    row = DeviceCommand(
        id=repo.new_id("cmd"),
        tenant_id=tenant_id,
        device_id=device_id,
        type=command_type,
        value=value,
        state="pending",
        result=None,
        expires_at=expiry,
        created_at=now,
        updated_at=now,
    )
    with db.write() as s:
        # Locked: a decommission cannot slip in between and leave the row orphaned.
        device_rows.get_device(s, tenant_id, device_id, for_update=True)
        s.add(row)
    view = _view(row, now)
    publish(view.message)
    return view


def get_command(
    db: Database, tenant_id: str, device_id: str, command_id: str, *, now: datetime
) -> CommandView:
    with db.read() as s:
        device_rows.get_device(s, tenant_id, device_id)
        return _view(command_rows.get_command(s, tenant_id, device_id, command_id), now)


def open_commands(
    db: Database, tenant_id: str, device_id: str, *, now: datetime
) -> list[CommandView]:
    """The device's commands still to run (its pick-up over HTTP)."""
    with db.read() as s:
        rows = command_rows.open_commands(s, tenant_id, device_id, now, MAX_PICKED_UP)
    return [_view(row, now) for row in rows]


def recent_commands(
    db: Database, tenant_id: str, device_id: str, limit: int, after: str | None, *, now: datetime
) -> Page[CommandView]:
    """A page of the tenant's device's commands, newest first (NotFound: no such device)."""
    with db.read() as s:
        device_rows.get_device(s, tenant_id, device_id)
        rows, nxt = command_rows.page_recent_commands(s, tenant_id, device_id, limit, after)
    return Page([_view(row, now) for row in rows], nxt)


def acknowledge(
    db: Database,
    tenant_id: str,
    device_id: str,
    command_id: str,
    *,
    ack: AckState,
    result: dict[str, Any] | None,
    now: datetime,
) -> CommandView:
    """Move the device's command forward (idempotent); NotFound for another device's."""
    with db.write() as s:
        row = command_rows.get_command(s, tenant_id, device_id, command_id, for_update=True)
        new_state = rules.acknowledged_state(
            rules.effective_state(row.state, row.expires_at, now), ack
        )
        if new_state is not None:
            row.state = new_state
            if result is not None:
                row.result = result
            row.updated_at = now
    return _view(row, now)
