"""Pending deletions of broker accounts: record, read, list the oldest, drop one served.

A row's ``requested_at`` only ever moves forward (a repeated request sets it
later than it was, even on a clock that is behind): whoever read it and later
drops "the request requested at that time or earlier" (:func:`served`) never
drops a request recorded after its read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from control_api.store.models import BrokerDeletion

_LATER = timedelta(microseconds=1)


def record(s: Session, device_id: str, now: datetime) -> None:
    """The device's account is to be deleted (again, if a request is pending already)."""
    row = s.get(BrokerDeletion, device_id, with_for_update=True)
    if row is None:
        s.add(BrokerDeletion(device_id=device_id, requested_at=now))
    else:
        row.requested_at = max(now, row.requested_at + _LATER)


def requested_at(s: Session, device_id: str) -> datetime | None:
    """When the device's pending deletion was (last) requested; None: none is pending."""
    return s.scalar(
        select(BrokerDeletion.requested_at).where(BrokerDeletion.device_id == device_id)
    )


def pending(s: Session, limit: int) -> list[tuple[str, datetime]]:
    """(device id, requested at) of the oldest pending deletions."""
    stmt = select(BrokerDeletion).order_by(BrokerDeletion.requested_at).limit(limit)
    return [(row.device_id, row.requested_at) for row in s.scalars(stmt)]


def served(s: Session, device_id: str, requested_at: datetime) -> None:
    """Drop the device's pending deletion if it was requested at ``requested_at`` or
    earlier (a newer request stays)."""
    s.execute(
        delete(BrokerDeletion).where(
            BrokerDeletion.device_id == device_id, BrokerDeletion.requested_at <= requested_at
        )
    )
