"""Pending deletions of broker accounts: record, list the oldest, drop one served."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from control_api.store.models import BrokerDeletion


def record(s: Session, device_id: str, now: datetime) -> None:
    """The device's account is to be deleted (again, if a request is pending already)."""
    row = s.get(BrokerDeletion, device_id, with_for_update=True)
    if row is None:
        s.add(BrokerDeletion(device_id=device_id, requested_at=now))
    else:
        row.requested_at = now


def pending(s: Session, limit: int) -> list[tuple[str, datetime]]:
    """(device id, requested at) of the oldest pending deletions."""
    stmt = select(BrokerDeletion).order_by(BrokerDeletion.requested_at).limit(limit)
    return [(row.device_id, row.requested_at) for row in s.scalars(stmt)]


def served(s: Session, device_id: str, requested_at: datetime | None = None) -> None:
    """Drop the device's pending deletion: the one requested at ``requested_at`` or
    earlier (a newer request stays), or any (None: a new account replaces it)."""
    stmt = delete(BrokerDeletion).where(BrokerDeletion.device_id == device_id)
    if requested_at is not None:
        stmt = stmt.where(BrokerDeletion.requested_at <= requested_at)
    s.execute(stmt)
