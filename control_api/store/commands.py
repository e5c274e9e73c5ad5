"""Remote commands' rows: read one of a device, its open ones, its recent ones, delete a
device's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from control_api.errors import NotFound
from control_api.store.models import DeviceCommand
from control_api.store.repository import decode_after, encode_after

OPEN_STATES = ("pending", "delivered")


def get_command(
    s: Session, tenant_id: str, device_id: str, command_id: str, *, for_update: bool = False
) -> DeviceCommand:
    """The device's command or NotFound (another device's command is not found either)."""
    stmt = select(DeviceCommand).where(
        DeviceCommand.id == command_id,
        DeviceCommand.tenant_id == tenant_id,
        DeviceCommand.device_id == device_id,
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = s.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no command {command_id!r} for this device")
    return row


def open_commands(
    s: Session, tenant_id: str, device_id: str, now: datetime, limit: int
) -> list[DeviceCommand]:
    """The device's pending and delivered commands not yet expired, oldest first."""
    stmt = (
        select(DeviceCommand)
        .where(
            DeviceCommand.tenant_id == tenant_id,
            DeviceCommand.device_id == device_id,
            DeviceCommand.state.in_(OPEN_STATES),
            DeviceCommand.expires_at >= now,
        )
        .order_by(DeviceCommand.created_at, DeviceCommand.id)
        .limit(limit)
    )
    return list(s.scalars(stmt))


def page_recent_commands(
    s: Session, tenant_id: str, device_id: str, limit: int, after: str | None
) -> tuple[list[DeviceCommand], str | None]:
    """A page of the device's commands, whatever their state, newest first (ids are
    time-ordered); the cursor of the next page, or None."""
    stmt = select(DeviceCommand).where(
        DeviceCommand.tenant_id == tenant_id, DeviceCommand.device_id == device_id
    )
    if after:
        stmt = stmt.where(DeviceCommand.id < decode_after(after))
    rows = list(s.scalars(stmt.order_by(DeviceCommand.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_after(rows[limit - 1].id)
    return rows, None


def delete_device_commands(s: Session, tenant_id: str, device_id: str) -> None:
    s.execute(
        delete(DeviceCommand).where(
            DeviceCommand.tenant_id == tenant_id, DeviceCommand.device_id == device_id
        )
    )
