"""The one fake clock of the test suite: ``SystemClock``'s interface, driven by hand.

``FakeClock`` stands in wherever the code takes a clock (``now()`` and
``monotonic()``: playback, runtime jobs, the syncer) or a ``now`` callable
(``create_app(now=clock)``: it is callable), and hands ``wall``/``monotonic``
to ``SystemClock(wall=..., mono=...)`` to test the real correction rules.

- ``advance(s)`` moves wall and monotonic time together (time passes);
- ``step(s)`` moves only the wall clock (what NTP or a user does);
- ``at`` (read/write) is the wall clock; ``set(at)`` the same as a call.

By default nothing moves unless the test moves it. ``real_time=True``: both
clocks also follow real time (for loops on real timers: libvlc, NullOutput);
``real_monotonic=True``: only ``monotonic()`` does (``time.monotonic()`` plus
every ``advance``), for code that waits on real timers while the test sets
the wall clock.

Driving a thread that waits (the playback loop) on fake time:

- ``inbox()`` is a ``queue.Queue`` whose ``get(timeout=...)`` times out in
  fake time: woken by a ``put`` or when the clock passes its deadline;
- ``call_later(delay_s, fn, *args)`` runs ``fn`` (on the test's thread) when
  fake time passes ``delay_s`` from now (a fake output's "item ended");
- ``settle()`` waits (real time, bounded) until every inbox's reader is
  blocked with nothing to read: the thread has done all it can at this instant;
- ``run_for(s)`` moves time forward event by event (each inbox deadline and
  each ``call_later`` in order), settling at each, so the thread sees every
  instant it asked to wake at, as it would in real time but without its jitter.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from player.core import clock as rules

DEFAULT_START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


class FakeClock:
    def __init__(
        self,
        start: datetime = DEFAULT_START,
        *,
        mono_s: float | None = None,
        real_time: bool = False,
        real_monotonic: bool = False,
    ) -> None:
        self._real_wall = real_time
        self._real_mono = real_time or real_monotonic
        self._started_mono = time.monotonic()
        self._wall_base = start
        if mono_s is None:
            mono_s = self._started_mono if self._real_mono else 1000.0
        self._mono_base = mono_s
        self.server_times: list[rules.ServerTime] = []
        self._state = threading.Condition()  # guards the inboxes' waiting marks
        self._inboxes: list[FakeInbox] = []
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._timer_ids = itertools.count()

    def _elapsed_s(self) -> float:
        return time.monotonic() - self._started_mono

    # -- the clock interface ------------------------------------------------------------

    def wall(self) -> datetime:
        if self._real_wall:
            return self._wall_base + timedelta(seconds=self._elapsed_s())
        return self._wall_base

    def now(self) -> datetime:
        return self.wall()

    def __call__(self) -> datetime:
        return self.wall()

    def monotonic(self) -> float:
        return self._mono_base + (self._elapsed_s() if self._real_mono else 0.0)

    def observe_server_time(self, server: rules.ServerTime) -> None:
        self.server_times.append(server)

    def maintain(self) -> None:
        pass

    def status(self) -> rules.ClockStatus:
        return rules.status(rules.ClockState(), self.wall(), self.monotonic())

    # -- driving it ---------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Jump: wall and monotonic time pass together; due timers fire, waiters wake."""
        self._wall_base += timedelta(seconds=seconds)
        self._mono_base += seconds
        self._woken()

    def _advance_to(self, mono_s: float) -> None:
        """``advance`` to exactly ``mono_s`` (a waiter's deadline, not a float sum near it)."""
        assert not self._real_mono, "run_for drives fake time only"
        self._wall_base += timedelta(seconds=mono_s - self._mono_base)
        self._mono_base = mono_s
        self._woken()

    def _woken(self) -> None:
        self._fire_timers()
        for inbox in list(self._inboxes):
            inbox.wake()

    # -- waiting on fake time -------------------------------------------------------------

    def inbox(self) -> FakeInbox:
        inbox = FakeInbox(self)
        with self._state:
            self._inboxes.append(inbox)
        return inbox

    def call_later(self, delay_s: float, fn: Callable[..., object], *args: Any) -> FakeTimer:
        timer = FakeTimer(fn, args)
        heapq.heappush(self._timers, (self.monotonic() + delay_s, next(self._timer_ids), timer))
        return timer

    def _fire_timers(self) -> None:
        while self._timers and self._timers[0][0] <= self.monotonic():
            _, _, timer = heapq.heappop(self._timers)
            timer.fire()

    def _next_timer_mono(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def settle(self, timeout_s: float = 5.0) -> None:
        """Wait until every inbox's reader is blocked on an empty inbox."""
        with self._state:
            ok = self._state.wait_for(
                lambda: all(i.waiting_until is not None for i in self._inboxes), timeout_s
            )
        assert ok, "the thread under test did not come back to wait"

    def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of fake time pass, stopping at every instant something is due."""
        target = self.monotonic() + seconds
        while True:
            self.settle()
            with self._state:
                due = [i.waiting_until for i in self._inboxes if i.waiting_until is not None]
            timer = self._next_timer_mono()
            if timer is not None:
                due.append(timer)
            now = self.monotonic()
            step_to = min([target, *(d for d in due if d > now)])
            if step_to <= now:
                break
            self._advance_to(step_to)
        self.settle()

    def step(self, seconds: float) -> None:
        self._wall_base += timedelta(seconds=seconds)

    def set(self, at: datetime) -> None:
        self._wall_base = at - (
            timedelta(seconds=self._elapsed_s()) if self._real_wall else timedelta(0)
        )

    @property
    def at(self) -> datetime:
        return self.wall()

    @at.setter
    def at(self, value: datetime) -> None:
        self.set(value)


class FakeTimer:
    def __init__(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._fn(*self._args)


class FakeInbox(queue.Queue[Any]):
    """A queue whose ``get`` timeouts are measured on a ``FakeClock``."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock
        # The fake instant its reader waits for (inf: no timeout); None while it runs.
        self.waiting_until: float | None = None

    def _mark(self, until: float | None) -> None:
        with self._clock._state:
            self.waiting_until = until
            self._clock._state.notify_all()

    def _put(self, item: Any) -> None:  # under self.mutex, from put()
        super()._put(item)
        self._mark(None)  # the reader has work: not settled until it waits again

    def wake(self) -> None:
        with self.not_empty:
            if self.waiting_until is not None:
                self._mark(None)
            self.not_empty.notify_all()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self.not_empty:
            deadline = None if timeout is None else self._clock.monotonic() + timeout
            while not self._qsize():
                if not block or (deadline is not None and self._clock.monotonic() >= deadline):
                    raise queue.Empty
                self._mark(float("inf") if deadline is None else deadline)
                self.not_empty.wait()
            self._mark(None)
            item = self._get()
            self.not_full.notify()
            return item
