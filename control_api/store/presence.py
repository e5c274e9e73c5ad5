"""Device presence rows: the device's current state and its transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from control_api.errors import InvalidField
from control_api.store.models import Device, DevicePresenceEvent
from control_api.store.repository import decode_after, encode_after
from lomuz_rules.push import PresenceState

Recorded = Literal["recorded", "unchanged", "unknown_device"]


def record_presence(s: Session, device_id: str, state: PresenceState, at: datetime) -> Recorded:
    """Store ``state`` as the device's presence if it differs, with one transition row.

    One conditional UPDATE: of N API workers handed the same message (each one
    subscribes), or a QoS-1 redelivery, only the first changes the row; on
    PostgreSQL the others wait for its row lock, then see the state already set
    and update nothing. ``at`` is when this worker received the message (before
    its queue): a worker that lags behind another cannot store an older state
    over a newer one. The transition row goes in the same transaction.
    """
    tenant_id = s.scalar(
        update(Device)
        .where(
            Device.id == device_id,
            Device.presence_state.is_(None) | (Device.presence_state != state),
            Device.presence_changed_at.is_(None) | (Device.presence_changed_at < at),
        )
        .values(presence_state=state, presence_changed_at=at)
        .returning(Device.tenant_id)
        .execution_options(synchronize_session=False)
    )
    if tenant_id is None:
        known = s.scalar(select(Device.id).where(Device.id == device_id))
        return "unchanged" if known is not None else "unknown_device"
    s.add(DevicePresenceEvent(tenant_id=tenant_id, device_id=device_id, state=state, at=at))
    return "recorded"


def page_presence_events(
    s: Session, tenant_id: str, device_id: str, limit: int, after: str | None
) -> tuple[list[DevicePresenceEvent], str | None]:
    """One page of the device's transitions, newest first (one range scan of the index)."""
    stmt = select(DevicePresenceEvent).where(
        DevicePresenceEvent.tenant_id == tenant_id, DevicePresenceEvent.device_id == device_id
    )
    if after:
        text = decode_after(after)
        if not text.isdigit() or len(text) > 18:
            raise InvalidField("after", "not a cursor returned by this API")
        stmt = stmt.where(DevicePresenceEvent.id < int(text))
    rows = list(s.scalars(stmt.order_by(DevicePresenceEvent.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_after(str(rows[limit - 1].id))
    return rows, None


def delete_device_presence(s: Session, tenant_id: str, device_id: str) -> None:
    s.execute(
        delete(DevicePresenceEvent).where(
            DevicePresenceEvent.tenant_id == tenant_id, DevicePresenceEvent.device_id == device_id
        )
    )


PRUNE_BATCH = 1000


def prune_presence_events(s: Session, before: datetime) -> int:
    """Delete up to ``PRUNE_BATCH`` transitions older than ``before``, oldest first; how
    many. Ids grow with time, so the oldest are the first ids: the primary key finds them
    and the scan stops at the first newer one (no index on ``at`` needed)."""
    oldest = s.execute(
        select(DevicePresenceEvent.id, DevicePresenceEvent.at)
        .order_by(DevicePresenceEvent.id)
        .limit(PRUNE_BATCH)
    )
    ids: list[int] = []
    for row in oldest:
        if row.at >= before:
            break
        ids.append(row.id)
    if ids:
        s.execute(delete(DevicePresenceEvent).where(DevicePresenceEvent.id.in_(ids)))
    return len(ids)
