"""The daemon's timers: apscheduler jobs.

apscheduler runs on the wall clock, so the jobs are armed only once the wall
clock is plausible and re-created after a clock step (a jump from 1970 to
today would make it enumerate every missed run). Jobs: sync (at the stored
interval, jittered), telemetry, janitor, metrics (when a textfile directory
is configured) and a one-shot job at the next schedule boundary, where the
downloads re-prioritise. apscheduler settings follow CONVENTIONS.md 6
(``coalesce``, ``max_instances=1``, jitter). Every job body is a loop
boundary: it logs and keeps the daemon alive.

Thread-safe: ``arm``, ``arm_boundary`` and ``stop`` take one lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from player.runtime.daemon_parts import DaemonParts
from player.wire import MAX_SYNC_INTERVAL_S, MIN_SYNC_INTERVAL_S

log = logging.getLogger(__name__)

JANITOR_INTERVAL_S = 300
CLOCK_WAIT_S = 30.0
METRICS_INTERVAL_S = 30


class Jobs:
    """The scheduler and its jobs, built on ``parts`` (the network side as it is now).

    ``sync(why)`` runs one sync; ``metrics()`` writes the textfile (None: no
    metrics job).
    """

    def __init__(
        self,
        parts: DaemonParts,
        *,
        sync: Callable[[str], object],
        metrics: Callable[[], None] | None,
    ) -> None:
        self._parts = parts
        self._sync = sync
        self._metrics = metrics
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._interval_s: int | None = None
        self._stopped = False

    @property
    def armed(self) -> bool:
        return self._scheduler is not None

    def arm(self) -> None:
        """(Re)create the scheduler and its jobs on the current wall clock."""
        settings = self._parts.settings
        network = self._parts.network
        with self._lock:
            if self._stopped:
                return
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
            scheduler = BackgroundScheduler(
                timezone=UTC,
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            )
            interval_s = self.sync_interval_s()
            jitter_s = min(settings.sync.jitter_s, max(1, interval_s // 4))
            if network is not None:
                scheduler.add_job(
                    self._sync,
                    "interval",
                    args=("scheduled",),
                    seconds=interval_s,
                    jitter=jitter_s,
                    id="sync",
                )
                scheduler.add_job(
                    network.telemetry.run_once,
                    "interval",
                    seconds=settings.telemetry.interval_s,
                    jitter=min(5, settings.telemetry.interval_s // 4),
                    id="telemetry",
                    next_run_time=datetime.now(UTC) + timedelta(seconds=2),
                )
            scheduler.add_job(
                self._janitor_job,
                "interval",
                seconds=JANITOR_INTERVAL_S,
                jitter=30,
                id="janitor",
                next_run_time=datetime.now(UTC) + timedelta(seconds=20),
            )
            if self._metrics is not None:
                scheduler.add_job(
                    self._metrics,
                    "interval",
                    seconds=METRICS_INTERVAL_S,
                    id="metrics",
                    next_run_time=datetime.now(UTC),
                )
            scheduler.start()
            self._scheduler = scheduler
            self._interval_s = interval_s
        self.arm_boundary()

    def arm_when_plausible(
        self, plausible: Callable[[], bool], stop: threading.Event, wait_s: float = CLOCK_WAIT_S
    ) -> None:
        """Arm once ``plausible()`` says the wall clock is; until then only playback runs.

        Returns without arming when ``stop`` is set first.
        """
        while not stop.is_set():
            if plausible():
                self.arm()
                return
            log.warning("wall clock is implausible (%s); jobs wait", datetime.now(UTC))
            stop.wait(wait_s)

    def rearm_if_interval_changed(self, interval_s: int | None) -> None:
        """After a sync: a new ``sync_interval_s`` from the API re-arms the jobs."""
        if (
            interval_s is not None
            and self._interval_s is not None
            and interval_s != self._interval_s
        ):
            self.arm()

    def rearm_soon(self) -> None:
        """After a wall-clock step: re-arm on another thread (the caller holds the clock)."""
        if self._scheduler is not None and not self._stopped:
            threading.Thread(target=self.arm, name="rearm", daemon=True).start()

    def arm_boundary(self) -> None:
        """A one-shot job at the next schedule boundary: downloads re-prioritise there."""
        clock = self._parts.clock
        decision = self._parts.store.decisions.decide(clock.now())
        with self._lock:
            if self._scheduler is None or decision.next_boundary_at is None:
                return
            wall_at = datetime.now(UTC) + (decision.next_boundary_at - clock.now())
            self._scheduler.add_job(
                self._boundary_job, "date", run_date=wall_at, id="boundary", replace_existing=True
            )

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
                self._scheduler = None

    def sync_interval_s(self) -> int:
        settings = self._parts.settings
        raw = self._parts.store.state.stored_sync_interval()
        try:
            stored = int(raw) if raw else settings.sync.interval_s
        except ValueError:
            return settings.sync.interval_s
        # The one range the wire allows: a value stored by an older player, or
        # written by hand, must not reach apscheduler's C int.
        return min(MAX_SYNC_INTERVAL_S, max(MIN_SYNC_INTERVAL_S, stored))

    def _boundary_job(self) -> None:
        network = self._parts.network
        if network is not None:
            network.downloads.reprioritise()
        self.arm_boundary()

    def _janitor_job(self) -> None:
        try:
            self._parts.janitor.run_once()
        except Exception:  # job boundary
            log.exception("janitor: unexpected error")
