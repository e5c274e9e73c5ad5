"""The clock never waits for the database: ``now()`` does no I/O (issue 11).

A real SQLite write lock is held by another connection (what a large manifest
apply does for seconds); the playback thread's ``now()`` must still answer at
once, while the persist of the lower bound waits on the feeding thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from player.adapters.clock import SystemClock
from player.core import clock as rules
from player.store.read_only import KEY_CLOCK_LOWER_BOUND
from player.store.repository import PlayerStore
from tests.fakes.clock import FakeClock

BOUNDED_S = 0.5


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PlayerStore]:
    opened = PlayerStore.open(tmp_path / "player.db")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def write_lock(tmp_path: Path, store: PlayerStore) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock until the test ends."""
    other = sqlite3.connect(
        tmp_path / "player.db", timeout=0, isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def persist_into(store: PlayerStore) -> tuple[list[datetime], Callable[[datetime], None]]:
    done: list[datetime] = []

    def persist(at: datetime) -> None:
        store.state.set_raw(KEY_CLOCK_LOWER_BOUND, at.isoformat())
        done.append(at)

    return done, persist


def test_now_answers_at_once_while_another_connection_holds_the_write_lock(
    store: PlayerStore, write_lock: sqlite3.Connection
) -> None:
    fake = FakeClock()
    persisted, persist = persist_into(store)
    clock = SystemClock(None, persist, persist_every_s=60, wall=fake.wall, mono=fake.monotonic)
    clock.now()  # a trusted time: the bound is due for its first persist
    # The feeding thread: a server time, then the persist, which waits for the lock.
    feeder = threading.Thread(
        target=clock.observe_server_time,
        args=(
            rules.ServerTime(
                fake.wall().replace(microsecond=0), fake.monotonic() - 0.1, fake.monotonic()
            ),
        ),
        daemon=True,
    )
    feeder.start()
    time.sleep(0.2)  # the feeder is inside the persist, blocked on SQLite
    assert feeder.is_alive(), "the persist did not wait for the lock: the test proves nothing"
    steps: list[float] = []
    clock.on_step(steps.append)
    previous = clock.now()
    for _ in range(5):
        fake.advance(30)
        fake.step(10)  # a wall-clock step: notified by maintain(), not by now()
        started = time.monotonic()
        now = clock.now()
        assert time.monotonic() - started < BOUNDED_S
        # The step is absorbed (the API offset follows it): 30 s passed, not 40.
        assert (now - previous).total_seconds() == pytest.approx(30, abs=0.01)
        previous = now
        started = time.monotonic()
        clock.status()
        assert time.monotonic() - started < BOUNDED_S
    assert persisted == []
    assert steps == []
    write_lock.execute("ROLLBACK")
    write_lock.execute("BEGIN")  # the fixture's ROLLBACK ends this one
    feeder.join(timeout=10)
    assert not feeder.is_alive()
    assert persisted, "the bound was not persisted once the lock was free"
    assert store.state.get_raw(KEY_CLOCK_LOWER_BOUND) == persisted[-1].isoformat()


def test_now_persists_nothing_and_maintain_does(store: PlayerStore) -> None:
    fake = FakeClock()
    persisted, persist = persist_into(store)
    clock = SystemClock(None, persist, persist_every_s=60, wall=fake.wall, mono=fake.monotonic)
    first = clock.now()
    fake.advance(120)
    clock.now()
    assert persisted == [] and store.state.get_raw(KEY_CLOCK_LOWER_BOUND) is None
    clock.maintain()
    assert persisted and persisted[-1] > first
    assert store.state.get_raw(KEY_CLOCK_LOWER_BOUND) == persisted[-1].isoformat()


def test_the_clock_job_persists_and_notifies_steps_on_its_own_thread(
    store: PlayerStore,
) -> None:
    fake = FakeClock()
    persisted, persist = persist_into(store)
    clock = SystemClock(None, persist, persist_every_s=60, wall=fake.wall, mono=fake.monotonic)
    seen: list[tuple[float, str]] = []
    clock.on_step(lambda step_s: seen.append((step_s, threading.current_thread().name)))
    clock.now()
    clock.start_maintenance(every_s=0.05)
    try:
        fake.step(3600)
        clock.now()  # sees the step, notifies nothing itself
        deadline = time.monotonic() + 5
        while not (seen and persisted) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen == [(pytest.approx(3600), "clock")]
        assert persisted
    finally:
        clock.stop_maintenance()
    fake.step(60)
    clock.now()
    time.sleep(0.2)
    assert len(seen) == 1  # stopped: nothing runs maintain() any more
