"""Enrollment: a one-time code → the device's token; bad codes counted per address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from control_api.errors import BadEnrollmentCode, RateLimited
from control_api.store import devices as device_rows
from control_api.store.db import Database


class FailureLimiter(Protocol):
    """``control_api.auth.EnrollmentLimiter``: counts in the enrollment's transaction."""

    def failed(self, s: Session, address: str, now: datetime) -> RateLimited | None: ...

    def succeeded(self, s: Session, address: str, now: datetime) -> None: ...


@dataclass(frozen=True)
class Enrolled:
    device_id: str
    device_token: str  # plaintext, shown once


def enroll(
    db: Database,
    limiter: FailureLimiter,
    code: str,
    hardware: dict[str, Any] | None,
    address: str,
    *,
    now: datetime,
) -> Enrolled:
    """BadEnrollmentCode for an unknown, used or expired code; RateLimited once the
    address failed too often (raised after the commit: the count must stay)."""
    # The code first, whatever the address's record says: a valid code always
    # enrolls (a shop behind a NAT shared with a guesser is not locked out).
    locked_out: RateLimited | None = None
    with db.write() as s:
        enrolled = device_rows.enroll(s, code, now, hardware)
        if enrolled is None:
            locked_out = limiter.failed(s, address, now)
        else:
            limiter.succeeded(s, address, now)
    if enrolled is None:
        if locked_out is not None:
            raise locked_out
        raise BadEnrollmentCode()
    return Enrolled(*enrolled)
