"""``lomuz-control media measure [--all]``: measure loudness now, a line per asset.

The same claim, measurement and record as the servers' background measurers
(``control_api.measuring``), so it is safe while they run: an asset one of them
holds is skipped. Pending assets by default (waiting retries too); ``--all``
re-measures every audio and video asset. Devices see a new measurement at
their next poll (this process publishes no push nudge).
"""

from __future__ import annotations

from datetime import UTC, datetime

from control_api.errors import ControlApiError
from control_api.loudness_ffmpeg import FfmpegLoudness
from control_api.measuring import Measurer
from control_api.media import LocalMediaStore
from control_api.services.measurements import Claimed, Outcome
from control_api.settings import Settings
from control_api.store.db import Database


class _NoMetrics:
    def loudness_measurement(self, outcome: str) -> None:
        pass


def _now() -> datetime:
    return datetime.now(UTC)


def measure(db: Database, settings: Settings, *, remeasure: bool) -> int:
    """Measure; returns how many failed (the exit status is 1 when any did)."""
    meter = FfmpegLoudness.find()
    if meter is None:
        raise ControlApiError("ffmpeg is not installed (apt install ffmpeg)")
    measurer = Measurer(
        db,
        LocalMediaStore(settings.media_dir),
        meter,
        _NoMetrics(),
        now=_now,
        poll_s=settings.measure_poll_s,
        keep_revisions=settings.changelog_horizon_revisions,
    )
    failed = 0

    def report(claimed: Claimed, outcome: Outcome, detail: str) -> None:
        nonlocal failed
        if outcome in ("retry", "failed"):
            failed += 1
        print(f"{claimed.asset_id} ({claimed.tenant_id}): {outcome}: {detail}", flush=True)

    made = measurer.sweep(remeasure=remeasure, due_only=False, report=report)
    print(f"{made} asset(s) measured, {failed} failed")
    return failed
