"""The corrected system clock (rules in ``player.core.clock``).

Thread-safe: every method takes an internal lock. ``now()`` is what schedules
are judged on; durations use ``monotonic()``.

``now()`` is pure arithmetic under the lock: no I/O, no callbacks, so the
playback thread never waits behind a database write (a large manifest apply
holds SQLite's write lock for seconds). Persisting the lower bound and
notifying "clock stepped" happen in ``maintain()``, which the thread that
feeds a server time (``observe_server_time``) calls, and the clock's own
periodic job (``start_maintenance``: a thread named ``clock``, every second).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from player.core import clock as rules
from player.errors import PlayerError

log = logging.getLogger(__name__)


_MAX_PENDING_STEPS = 16  # steps kept for maintain(); more between two calls: the newest


def _system_wall() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    """Wall clock corrected by the API's ``Date`` and a persisted lower bound.

    ``persist_lower_bound`` is called with the new bound at most every
    ``persist_every_s`` seconds (SD cards wear), from ``maintain()`` (never
    from ``now()``), outside the clock's lock; a failing persist (a full disk)
    keeps the bound in memory and is retried at the next interval.
    ``on_step`` callbacks run from ``maintain()`` too, on its caller's thread.
    The bound only rises while the clock is trusted, so a wild wall clock
    cannot push it into the future.
    A persisted bound outside the plausible span (``rules.plausible_bound``) is
    dropped at construction; an API ``Date`` is judged by
    ``rules.observe_server_time`` (implausible or unconfirmed jumps ignored, a
    poisoned bound lowered once the API time is confirmed).
    ``wall`` and ``mono`` are injectable for tests.
    """

    def __init__(
        self,
        lower_bound: datetime | None = None,
        persist_lower_bound: Callable[[datetime], None] | None = None,
        *,
        persist_every_s: float = 60.0,
        wall: Callable[[], datetime] = _system_wall,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._mono = mono
        self._persist = persist_lower_bound
        self._persist_every_s = persist_every_s
        self._persisted_at_mono: float | None = None
        self._persist_lock = threading.Lock()  # one persist at a time, outside _lock
        self._persist_failing = False
        self._lock = threading.Lock()
        sane_bound = rules.plausible_bound(lower_bound)
        if lower_bound is not None and sane_bound is None:
            log.warning(
                "clock: ignoring the persisted lower bound %s: outside %s .. %s",
                lower_bound.isoformat(),
                rules.BUILD_FLOOR.date(),
                rules.LATEST_PLAUSIBLE.date(),
            )
        self._date_refused = False
        self._state = rules.ClockState(lower_bound=sane_bound)
        # Highest value now() returned in this process: an untrusted forward
        # step followed by a step back must not move corrected time backwards.
        # Not persisted (only trusted times raise the persisted lower bound).
        self._high_water: datetime | None = None
        self._on_step: list[Callable[[float], None]] = []
        # Steps seen (by now()/status()) and not yet notified; a lowered bound
        # not yet persisted. maintain() hands both on, outside the lock.
        self._pending_steps: list[float] = []
        self._bound_lowered = False
        self._maintenance: threading.Thread | None = None
        self._maintenance_stop = threading.Event()
        with self._lock:
            self._observe_locked()

    def monotonic(self) -> float:
        return self._mono()

    def on_step(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(step_s)`` after a wall-clock step (re-arm timers there)."""
        self._on_step.append(callback)

    def now(self) -> datetime:
        """Corrected current time, UTC; never earlier than a previous result.

        No I/O and no callbacks: a step seen here is notified by ``maintain()``.
        """
        with self._lock:
            self._observe_locked()
            wall = self._wall()
            now = rules.corrected_now(self._state, wall)
            if self._high_water is not None and now < self._high_water:
                now = self._high_water
            self._high_water = now
            # Only a trusted time may raise the bound: a wild wall clock must
            # not pin the bound in the future.
            if rules.status(self._state, wall, self._mono()).trusted:
                self._state = rules.raise_lower_bound(self._state, now)
        return now

    def observe_server_time(self, server: rules.ServerTime) -> None:
        """Judge the API's time (parsed once by the HTTP adapter), then ``maintain()``.

        Runs on the thread that fed it (the syncer's): a lowered bound is
        persisted and a step notified there, never in ``now()``.
        """
        with self._lock:
            verdict = rules.observe_server_time(
                self._state, server.at, server.sent_mono_s, server.received_mono_s, self._wall()
            )
            self._state = verdict.state
            refused_before, self._date_refused = self._date_refused, not verdict.accepted
            if verdict.lowered_bound:
                # The bound was poisoned: corrected time goes back, once, to the truth.
                self._high_water = None
                self._persisted_at_mono = None
                self._bound_lowered = True
        if not verdict.accepted and not refused_before:
            log.warning("clock: ignoring the API's Date: %s", verdict.reason)
        elif verdict.accepted and refused_before:
            log.info("clock: the API's Date is plausible again")
        if verdict.lowered_bound:
            log.warning("clock: %s", verdict.reason)
        self.maintain()

    def maintain(self) -> None:
        """Persist the lower bound if due and notify pending steps (a periodic job calls it).

        Never call it from the playback thread: the persist is a database write.
        """
        with self._lock:
            self._observe_locked()
            steps, self._pending_steps = self._pending_steps, []
            lowered, self._bound_lowered = self._bound_lowered, False
            to_persist = self._due_persist_locked()
        if to_persist is not None:
            self._persist_bound(to_persist, lowered=lowered)
        for step_s in steps:
            for callback in self._on_step:
                callback(step_s)

    def start_maintenance(self, every_s: float = 1.0) -> None:
        """Run ``maintain()`` every ``every_s`` on a thread of its own until ``stop_maintenance``.

        Its own thread, so a step is noticed within a second whatever the
        others do (a sync retrying for minutes, playback waiting on libvlc).
        """
        if self._maintenance is not None:
            return
        self._maintenance_stop.clear()

        def run() -> None:
            while not self._maintenance_stop.wait(every_s):
                try:
                    self.maintain()
                except Exception:  # a step callback's bug: keep the clock's job alive
                    log.exception("clock: maintenance failed")

        self._maintenance = threading.Thread(target=run, name="clock", daemon=True)
        self._maintenance.start()

    def stop_maintenance(self, timeout_s: float = 10.0) -> None:
        """Stop the periodic job and wait for a persist in progress (before the store closes)."""
        thread, self._maintenance = self._maintenance, None
        if thread is None:
            return
        self._maintenance_stop.set()
        thread.join(timeout_s)

    def status(self) -> rules.ClockStatus:
        with self._lock:
            self._observe_locked()
            return rules.status(self._state, self._wall(), self._mono())

    def flush(self) -> None:
        """Persist the lower bound now (call at shutdown)."""
        with self._lock:
            self._persisted_at_mono = None
            to_persist = self._due_persist_locked()
        if to_persist is not None:
            self._persist_bound(to_persist)

    def _observe_locked(self) -> float | None:
        self._state, step_s = rules.observe(self._state, self._wall(), self._mono())
        if step_s is not None:
            self._pending_steps.append(step_s)
            del self._pending_steps[:-_MAX_PENDING_STEPS]
        return step_s

    def _due_persist_locked(self) -> datetime | None:
        """The bound to persist now, if one is due (the attempt counts, success or not)."""
        if self._persist is None or self._state.lower_bound is None:
            return None
        mono = self._mono()
        if (
            self._persisted_at_mono is not None
            and mono - self._persisted_at_mono < self._persist_every_s
        ):
            return None
        self._persisted_at_mono = mono
        return self._state.lower_bound

    def _persist_bound(self, bound: datetime, *, lowered: bool = False) -> None:
        """Persist ``bound`` (``lowered``: one that went down, not the higher of the two)."""
        assert self._persist is not None
        with self._persist_lock:
            with self._lock:  # the newest bound: another thread may have raised it meanwhile
                current = self._state.lower_bound or bound
                bound = current if lowered else max(bound, current)
            try:
                self._persist(bound)
            except PlayerError as exc:  # kept in memory; the next interval retries
                if not self._persist_failing:
                    log.warning(
                        "clock: cannot persist the lower bound %s yet: %s", bound.isoformat(), exc
                    )
                self._persist_failing = True
                return
            if self._persist_failing:
                log.info("clock: lower bound persisted again")
            self._persist_failing = False
