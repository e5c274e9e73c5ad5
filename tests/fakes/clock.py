"""The one fake clock of the test suite: ``SystemClock``'s interface, driven by hand.

``FakeClock`` stands in wherever the code takes a clock (``now()`` and
``monotonic()``: playback, runtime jobs, the syncer) or a ``now`` callable
(``create_app(now=clock)``: it is callable), and hands ``wall``/``monotonic``
to ``SystemClock(wall=..., mono=...)`` to test the real correction rules.

- ``advance(s)`` moves wall and monotonic time together (time passes);
- ``step(s)`` moves only the wall clock (what NTP or a user does);
- ``at`` (read/write) is the wall clock; ``set(at)`` the same as a call.

By default nothing moves unless the test moves it. ``real_time=True``: both
clocks also follow real time (for loops that really sleep: playback, VLC);
``real_monotonic=True``: only ``monotonic()`` does (``time.monotonic()`` plus
every ``advance``), for code that waits on real timers while the test sets
the wall clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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
        self._wall_base += timedelta(seconds=seconds)
        self._mono_base += seconds

    def step(self, seconds: float) -> None:
        self._wall_base += timedelta(seconds=seconds)

    def set(self, at: datetime) -> None:
        self._wall_base = at - (timedelta(seconds=self._elapsed_s()) if self._real_wall
                                else timedelta(0))

    @property
    def at(self) -> datetime:
        return self.wall()

    @at.setter
    def at(self, value: datetime) -> None:
        self.set(value)
