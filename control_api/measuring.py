"""Loudness measuring in the background (issue 14): one thread per API worker.

Uploads only mark audio and video assets "pending" (an upload's latency never
includes ffmpeg); the migration marked the assets that existed before. Each
worker's measurer claims one pending asset at a time with a lease
(``control_api.store.measurements``: two workers never measure one asset at
once; a killed worker's lease ends), measures the stored file
(``LoudnessMeter``, ffmpeg in production) and records the outcome
(``control_api.services.measurements``): a measurement bumps the tenant's
revision, so delta manifests carry it and pushed players are nudged; a failure
is retried after a backoff, a bounded number of times.

The thread sleeps ``LOMUZ_MEASURE_POLL_S`` between rounds, or until
:meth:`Measurer.wake` (an upload). Every round catches what it does not expect
(logged; tried again next round), so a database blip never kills the thread.
Thread-safe; ``stop()`` waits for the thread (a measurement under way finishes
or its lease ends).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from control_api.core.loudness import Measurement
from control_api.errors import InvalidMediaName, MeasurementFailed
from control_api.media import MediaStore
from control_api.services import measurements
from control_api.services.measurements import Claimed, Outcome
from control_api.store import repository as repo
from control_api.store.db import Database

log = logging.getLogger(__name__)


class LoudnessMeter(Protocol):
    """Measures one stored file (``control_api.loudness_ffmpeg.FfmpegLoudness``).

    Raises ``MeasurementFailed``; may take minutes (called off the request path)."""

    def measure(self, path: Path, media_type: str, duration_ms: int | None) -> Measurement: ...


class MeasurementCounter(Protocol):
    """``control_api.metrics.Metrics`` (kept apart: the metrics import Falcon)."""

    def loudness_measurement(self, outcome: str) -> None: ...


Report = Callable[[Claimed, Outcome, str], None]  # (asset, outcome, what it says)


def _quiet(claimed: Claimed, outcome: Outcome, detail: str) -> None:
    pass


class Measurer:
    def __init__(
        self,
        db: Database,
        media: MediaStore,
        meter: LoudnessMeter,
        metrics: MeasurementCounter,
        *,
        now: Callable[[], datetime],
        poll_s: float,
        keep_revisions: int,
        stored: Callable[[str], None] = lambda tenant_id: None,
    ) -> None:
        """``stored(tenant_id)`` runs after a measurement's commit (the composition root
        drops the tenant's cached revision there)."""
        self._db = db
        self._media = media
        self._meter = meter
        self._metrics = metrics
        self._now = now
        self._poll_s = poll_s
        self._keep_revisions = keep_revisions
        self._stored = stored
        self.owner = repo.new_id("msr")
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lomuz-measure", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """An asset was uploaded: the measurer looks now (returns at once)."""
        self._woken.set()

    def measure_due(self) -> int:
        """Measure every pending asset that is due, one after another (a thread's round;
        tests call it); how many were attempted."""
        return self.sweep()

    def sweep(
        self, *, remeasure: bool = False, due_only: bool = True, report: Report = _quiet
    ) -> int:
        """One pass in id order: each claimable asset once (a failure waits for its retry,
        not for the next in line). ``remeasure``: every audio and video asset."""
        made = 0
        after_id: str | None = None
        while not self._stopping.is_set():
            claimed = measurements.claim(
                self._db,
                owner=self.owner,
                now=self._now(),
                remeasure=remeasure,
                due_only=due_only,
                after_id=after_id,
            )
            if claimed is None:
                return made
            after_id = claimed.asset_id
            outcome, detail = self.measure_claimed(claimed)
            report(claimed, outcome, detail)
            made += 1
        return made

    def measure_claimed(self, claimed: Claimed) -> tuple[Outcome, str]:
        """Measure a claimed asset and record the outcome (and what it says)."""
        try:
            path = self._media.path_for(claimed.sha256)
            measured = self._meter.measure(path, claimed.media_type, claimed.duration_ms)
        except InvalidMediaName:
            failure = MeasurementFailed("the stored file's name is not a sha256", retryable=False)
            return self._failed(claimed, failure)
        except MeasurementFailed as exc:
            return self._failed(claimed, exc)
        outcome = measurements.record_measurement(
            self._db,
            claimed,
            owner=self.owner,
            measurement=measured,
            now=self._now(),
            keep_revisions=self._keep_revisions,
        )
        self._metrics.loudness_measurement(outcome)
        if outcome == "measured":
            self._stored(claimed.tenant_id)
        detail = describe(measured)
        log.info("asset %s: %s (%s)", claimed.asset_id, detail, outcome)
        return outcome, detail

    def _failed(self, claimed: Claimed, failure: MeasurementFailed) -> tuple[Outcome, str]:
        outcome = measurements.record_failure(
            self._db, claimed, owner=self.owner, failure=failure, now=self._now()
        )
        self._metrics.loudness_measurement(outcome)
        log.warning("asset %s: not measured: %s (%s)", claimed.asset_id, failure.reason, outcome)
        return outcome, failure.reason

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.measure_due()
            except Exception:  # a loop boundary: logged, tried again next round
                log.exception("measuring: a round failed; trying again next round")
            self._woken.wait(self._poll_s)
            self._woken.clear()


def describe(m: Measurement) -> str:
    """One line for a log or the CLI: ``-14.2 LUFS, -1.0 dBTP, cue 0.50-181.20 s``."""
    cues = f"cue {m.cue_in_ms / 1000:.2f}-{m.cue_out_ms / 1000:.2f} s"
    if m.loudness_lufs is None:
        return f"no loudness ({m.note}), {cues}"
    return f"{m.loudness_lufs:.1f} LUFS, {m.true_peak_dbtp:.1f} dBTP, {cues}"
