"""The measuring state of assets (issue 14): claims with a lease, outcomes.

Several API workers measure at once (``control_api.measuring``). A measurer
claims one asset at a time by writing its id and a lease end into the row; the
claim's UPDATE repeats the conditions, so on PostgreSQL a row another worker
leased meanwhile is re-checked after its lock and skipped (``SKIP LOCKED`` spares
the wait), and on SQLite writers take turns (``BEGIN IMMEDIATE``). A worker
killed mid-measure leaves a lease that simply ends. An outcome is written only
by the lease's owner: a measurer whose lease ran out loses its result (the new
owner measures again) rather than overwrite another's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from control_api.store.models import Asset

PENDING = "pending"
MEASURED = "measured"
FAILED = "failed"
STATES = (PENDING, MEASURED, FAILED)
MEASURED_MEDIA = ("audio", "video")


def _claimable(
    now: datetime, states: Sequence[str], due_only: bool, after_id: str | None
) -> list[ColumnElement[bool]]:
    conditions = [
        Asset.media_type.in_(MEASURED_MEDIA),
        Asset.measure_state.in_(list(states)),
        or_(Asset.measure_lease_until.is_(None), Asset.measure_lease_until < now),
    ]
    if due_only:
        conditions.append(or_(Asset.measure_next_at.is_(None), Asset.measure_next_at <= now))
    if after_id is not None:
        conditions.append(Asset.id > after_id)
    return conditions


def claim_next(
    s: Session,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    states: Sequence[str] = (PENDING,),
    due_only: bool = True,
    after_id: str | None = None,
) -> Asset | None:
    """Lease the first claimable asset (in id order, past ``after_id``) to ``owner``.

    Claimable: audio or video in one of ``states``, not leased (or its lease ended),
    and with ``due_only`` not waiting for a retry.
    """
    conditions = _claimable(now, states, due_only, after_id)
    first = (
        select(Asset.id)
        .where(*conditions)
        .order_by(Asset.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    asset_id = s.scalars(first).first()
    if asset_id is None:
        return None
    result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
        update(Asset)
        .where(Asset.id == asset_id, *conditions)
        .values(measure_lease_owner=owner, measure_lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return s.scalars(
        select(Asset).where(Asset.id == asset_id).execution_options(populate_existing=True)
    ).one()


def held(s: Session, asset_id: str, owner: str) -> Asset | None:
    """The asset, row-locked, if ``owner`` still holds its lease (else None)."""
    stmt = (
        select(Asset)
        .where(Asset.id == asset_id, Asset.measure_lease_owner == owner)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return s.scalars(stmt).first()


def release(asset: Asset) -> None:
    asset.measure_lease_owner = None
    asset.measure_lease_until = None


def counts(s: Session) -> dict[str, int]:
    """Audio and video assets of every tenant by measuring state."""
    rows = s.execute(
        select(Asset.measure_state, func.count())
        .where(Asset.media_type.in_(MEASURED_MEDIA))
        .group_by(Asset.measure_state)
    )
    return {str(state): int(n) for state, n in rows}
