"""Playback's start of an item while another writer holds the lock (issue 11).

A manifest of 100k assets is applied in one write transaction of seconds; the
playback thread's ``mark_started`` must not wait for it, and what it could not
write must reach the database once the lock is free, in the same order.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from lomuz_rules.model import Tier
from player.composition import StoreSource
from player.core.model import ItemStart
from player.store import PlayerStore
from player.store.tables import to_micros
from tests.player.core.builders import T0, asset, manifest, playlist, schedule
from tests.player.store.test_store import verify_all

ITEM_S = 180


@contextmanager
def held_write_lock(db_path: Path) -> Iterator[None]:
    """Another connection in a write transaction (what ``apply_manifest`` does), then COMMIT."""
    writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO state (key, value) VALUES ('test.writer', 'held')")
        yield
        writer.execute("COMMIT")
    finally:
        writer.close()


def open_store(db_path: Path) -> PlayerStore:
    store = PlayerStore.open(db_path, retry_interval_s=0)
    store.catalogue.apply_manifest(
        manifest(
            [asset("a"), asset("b"), asset("c")],
            [playlist("p", "a", "b", "c", "a")],
            [schedule("s", "p")],
        )
    )
    verify_all(store)
    return store


def start_next(source: StoreSource, step: int) -> tuple[str | None, int | None]:
    """Playback's sequence for one item: decide, then mark it started."""
    at = T0 + timedelta(seconds=ITEM_S * step)
    decision = source.decide(at)
    assert decision.asset_id is not None and decision.sha256 is not None
    source.mark_started(
        ItemStart(
            decision,
            asset_id=decision.asset_id,
            sha256=decision.sha256,
            started_at=at,
            play_id=f"play-{step}",
            planned_end_at=at + timedelta(seconds=ITEM_S),
        )
    )
    return decision.asset_id, decision.playlist_position


def stored(db_path: Path) -> tuple[list[tuple[object, ...]], object]:
    """The rotation rows and the in-progress record, read by a connection of its own."""
    with sqlite3.connect(db_path) as conn:
        rotation = conn.execute(
            "SELECT playlist_id, position, asset_id, last_played_at FROM rotation "
            "ORDER BY playlist_id, position"
        ).fetchall()
        row = conn.execute("SELECT value FROM state WHERE key = 'playback.in_progress'").fetchone()
    return rotation, None if row is None else json.loads(row[0])


def test_a_start_during_a_held_write_returns_promptly_and_is_written_after(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "player.db"
    with open_store(db_path) as store:
        source = StoreSource(store, Tier.JINGLE)
        with held_write_lock(db_path):
            began = time.monotonic()
            assert start_next(source, 0) == ("a", 0)
            # busy_timeout is 5 s: the start did not wait for the writer
            assert time.monotonic() - began < 1.0
            assert stored(db_path)[0] == []
            # rotation goes on from memory meanwhile
            assert source.decide(T0 + timedelta(seconds=ITEM_S)).playlist_position == 1
        assert store.db.flush_deferred()  # the janitor's (or the next write's) write-back
    rotation, in_progress = stored(db_path)
    assert rotation == [("p", 0, "a", to_micros(T0))]
    assert isinstance(in_progress, list)
    assert [entry["id"] for entry in in_progress] == ["play-0"]


def test_the_decision_sequence_is_the_same_with_a_writer_holding_the_lock(
    tmp_path: Path,
) -> None:
    free_path, busy_path = tmp_path / "free.db", tmp_path / "busy.db"
    with open_store(free_path) as free:
        source = StoreSource(free, Tier.JINGLE)
        expected = [start_next(source, step) for step in range(7)]
    with open_store(busy_path) as busy:
        source = StoreSource(busy, Tier.JINGLE)
        got = [start_next(source, 0)]
        with held_write_lock(busy_path):  # two starts kept in memory
            got += [start_next(source, step) for step in (1, 2)]
        got += [start_next(source, step) for step in range(3, 7)]  # the first writes them back
        assert not busy.db.deferred.has_work()
    assert got == expected
    assert got[:5] == [("a", 0), ("b", 1), ("c", 2), ("a", 3), ("a", 0)]
    assert stored(busy_path) == stored(free_path)
