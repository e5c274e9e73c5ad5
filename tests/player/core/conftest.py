"""Fixtures for the player's core tests, and ``FakeClock`` (copy the idea)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from player.core import clock as rules


class FakeClock:
    """A hand-driven clock with the ``SystemClock`` interface.

    ``advance`` moves wall and monotonic time together; ``step`` moves only the
    wall clock (what NTP or a user does). ``wall``/``monotonic`` can be handed
    to ``SystemClock(wall=..., mono=...)`` to test the real correction logic.
    """

    def __init__(self, start: datetime | None = None, mono_s: float = 1000.0) -> None:
        self._wall = start or datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
        self._mono_s = mono_s
        self.api_dates: list[tuple[str, float, float]] = []

    def wall(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._mono_s

    def now(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)
        self._mono_s += seconds

    def step(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)

    def set(self, at: datetime) -> None:
        self._wall = at

    def observe_api_date(self, date_header: str, sent_mono: float, received_mono: float) -> None:
        self.api_dates.append((date_header, sent_mono, received_mono))

    def status(self) -> rules.ClockStatus:
        return rules.status(rules.ClockState(), self._wall, self._mono_s)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
