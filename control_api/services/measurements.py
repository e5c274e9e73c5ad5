"""Measuring assets (issue 14): claim one, record what ffmpeg said or why it could not.

Used by the background measurers (``control_api.measuring``) and by
``lomuz-control media measure``. A measurement that changes what devices see
bumps the tenant's revision like any asset edit (the change log, so delta
manifests carry it; the commit listener, so pushed players are nudged); a
failure changes nothing a device sees and bumps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from control_api.core import loudness
from control_api.core.loudness import Measurement
from control_api.errors import MeasurementFailed
from control_api.store import measurements as rows
from control_api.store import repository as repo
from control_api.store.db import Database

Outcome = Literal["measured", "unchanged", "retry", "failed", "lost"]
OUTCOMES: tuple[Outcome, ...] = ("measured", "unchanged", "retry", "failed", "lost")
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Claimed:
    """An asset leased to one measurer until ``lease_until``."""

    asset_id: str
    tenant_id: str
    sha256: str
    media_type: str
    duration_ms: int | None
    lease_until: datetime


def lease_s(duration_ms: int | None) -> float:
    """A lease that outlasts the measurement's own timeout."""
    return loudness.timeout_s(duration_ms) + 60.0


def claim(
    db: Database,
    *,
    owner: str,
    now: datetime,
    remeasure: bool = False,
    due_only: bool = True,
    after_id: str | None = None,
) -> Claimed | None:
    """Lease the next asset to measure (in id order past ``after_id``): a pending one
    (``due_only``: not waiting for a retry); with ``remeasure`` any audio or video."""
    states = rows.STATES if remeasure else (rows.PENDING,)
    with db.write() as s:
        # The longest lease first: the duration is only known once the row is read.
        asset = rows.claim_next(
            s,
            owner=owner,
            now=now,
            lease_until=now + timedelta(seconds=lease_s(None)),
            states=states,
            due_only=due_only and not remeasure,
            after_id=after_id,
        )
        if asset is None:
            return None
        asset.measure_lease_until = now + timedelta(seconds=lease_s(asset.duration_ms))
        return Claimed(
            asset.id,
            asset.tenant_id,
            asset.sha256,
            asset.media_type,
            asset.duration_ms,
            asset.measure_lease_until,
        )


def record_measurement(
    db: Database,
    claimed: Claimed,
    *,
    owner: str,
    measurement: Measurement,
    now: datetime,
    keep_revisions: int,
) -> Outcome:
    """Store the measurement if ``owner`` still holds the lease ("lost" if not);
    "unchanged" when a re-measure found the same values (no revision bump)."""
    with db.write() as s:
        asset = rows.held(s, claimed.asset_id, owner)
        if asset is None:
            return "lost"
        root_before = repo.view_root(asset)
        values = (
            _rounded(measurement.loudness_lufs),
            _rounded(measurement.true_peak_dbtp),
            measurement.cue_in_ms,
            measurement.cue_out_ms,
        )
        before = (asset.loudness_lufs, asset.true_peak_dbtp, asset.cue_in_ms, asset.cue_out_ms)
        asset.loudness_lufs, asset.true_peak_dbtp, asset.cue_in_ms, asset.cue_out_ms = values
        asset.measure_state = rows.MEASURED
        asset.measure_attempts = 0  # failed attempts since the last measurement
        asset.measure_error = (measurement.note or "")[:MAX_ERROR_CHARS] or None
        asset.measure_next_at = None
        asset.measured_at = now
        rows.release(asset)
        if values == before:
            return "unchanged"
        asset.updated_at = now
        repo.record_changes(
            s, asset.tenant_id, [("asset", asset.id, False, root_before)], keep_revisions
        )
    return "measured"


def record_failure(
    db: Database, claimed: Claimed, *, owner: str, failure: MeasurementFailed, now: datetime
) -> Outcome:
    """Count a failed attempt: "retry" (after a backoff) or "failed" (given up, or the
    failure is not retryable); "lost" when the lease is not ``owner``'s any more. A
    measurement stored before stays as it was."""
    with db.write() as s:
        asset = rows.held(s, claimed.asset_id, owner)
        if asset is None:
            return "lost"
        asset.measure_attempts += 1
        retry = loudness.retry_at(asset.measure_attempts, now) if failure.retryable else None
        asset.measure_state = rows.PENDING if retry is not None else rows.FAILED
        asset.measure_next_at = retry
        asset.measure_error = failure.reason[:MAX_ERROR_CHARS]
        rows.release(asset)
        return "retry" if retry is not None else "failed"


def state_counts(db: Database) -> dict[str, int]:
    """Audio and video assets of every tenant by measuring state."""
    with db.read() as s:
        return rows.counts(s)


def _rounded(value: float | None) -> float | None:
    """ffmpeg prints one decimal; the stored value is that, not a float's noise."""
    return None if value is None else round(value, 1)
