"""``StoreReader`` (stdlib sqlite3: ``status``, ``plays``) answers as ``PlayerStore`` does.

And the schema revisions it checks without alembic are alembic's.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from lomuz_rules.model import Tier
from player.core.model import Outcome, Play
from player.errors import StoreError
from player.store import PlayerStore
from player.store.read_only import (
    KEY_CLOCK_LOWER_BOUND,
    KEY_LAST_SYNC_OK_AT,
    SCHEMA_HEAD,
    SCHEMA_REVISIONS,
    StoreCounts,
    StoreReader,
)
from tests.player.core.builders import T0, asset, manifest, playlist, schedule, sha


def test_schema_revisions_are_alembics_oldest_first() -> None:
    config = Config()
    config.set_main_option("script_location", "player.store:migrations")
    script = ScriptDirectory.from_config(config)
    walked = [rev.revision for rev in script.walk_revisions()]  # newest first
    assert tuple(reversed(walked)) == SCHEMA_REVISIONS
    assert list(script.get_heads()) == [SCHEMA_HEAD]


def played(asset_id: str, minutes: int) -> Play:
    at = T0 + timedelta(minutes=minutes)
    return Play(
        id=str(uuid.uuid4()),
        asset_id=asset_id,
        sha256=sha(asset_id),
        started_at=at,
        ended_at=at + timedelta(minutes=3),
        source=Tier.PLAYLIST,
        outcome=Outcome.COMPLETED,
        schedule_id="s",
        playlist_id="p",
    )


def busy_database(db_path: Path) -> None:
    """Assets, verified and quarantined files, uploaded and pending plays, state keys."""
    with PlayerStore.open(db_path, outbox_max_rows=3) as store:
        store.catalogue.apply_manifest(
            manifest(
                [asset("a"), asset("b"), asset("c"), asset("e", emergency=True)],
                [playlist("p", "a", "b", "c")],
                [schedule("s", "p")],
            )
        )
        for name in ("a", "b", "e"):
            store.files.mark_file_verified(sha(name), 1000, T0)
        store.files.quarantine_file(sha("b"), T0 + timedelta(hours=1), "decoder error")
        store.files.quarantine_file(sha("c"), T0 - timedelta(hours=1), "expired hold")
        plays = [played("a", minutes) for minutes in range(5)]  # 2 dropped by the bound
        for play in plays:
            store.outbox.record_play(play)
        store.outbox.mark_plays_uploaded([plays[-1].id])
        store.state.set_raw(KEY_LAST_SYNC_OK_AT, T0.isoformat())
        store.state.set_raw(KEY_CLOCK_LOWER_BOUND, T0.isoformat())


@pytest.mark.parametrize("at_offset_min", [0, 30, 90])
def test_status_reads_agree_with_the_player_store(tmp_path: Path, at_offset_min: int) -> None:
    db_path = tmp_path / "player.db"
    busy_database(db_path)
    at = T0 + timedelta(minutes=at_offset_min)
    reference = PlayerStore.open_read_only(db_path)
    reader = StoreReader.open(db_path)
    assert reference is not None and reader is not None
    try:
        counts = reader.counts(at)
        assert counts == reference.outbox.counts(at)
        assert counts == StoreCounts(
            assets=4,
            playlists=1,
            schedules=1,
            files_present=3,
            quarantined=1 if at_offset_min < 60 else 0,
            outbox_pending=2,
            outbox_total=3,
            plays_dropped=2,
        )
        assert reader.counts() == reference.outbox.counts()
        quarantined = reader.quarantined_files(at)
        assert quarantined == reference.files.quarantined_files(at)
        assert [f.sha256 for f in quarantined] == ([sha("b")] if at_offset_min < 60 else [])
        assert reader.device() == reference.state.device()
        assert reader.cursor() == reference.state.cursor()
        assert reader.dropped_plays_count() == reference.outbox.dropped_plays_count() == 2
        plays = reader.local_plays()
        assert plays == reference.outbox.local_plays()
        assert [uploaded for _, uploaded in plays] == [False, False, True]  # newest last
        assert [p.started_at for p, _ in plays] == [T0 + timedelta(minutes=m) for m in (2, 3, 4)]
        assert reader.local_plays(limit=2) == reference.outbox.local_plays(limit=2) == plays[1:]
        for key in (KEY_LAST_SYNC_OK_AT, KEY_CLOCK_LOWER_BOUND, "no such key"):
            assert reader.get_state(key) == reference.state.get_raw(key)
    finally:
        reader.close()
        reference.close()


def test_no_database_is_none_and_creates_nothing(tmp_path: Path) -> None:
    assert StoreReader.open(tmp_path / "missing" / "player.db") is None
    assert list(tmp_path.iterdir()) == []


def test_reading_leaves_a_closed_database_untouched(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    busy_database(db_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with StoreReader.open(db_path) as reader:  # type: ignore[union-attr]
        reader.counts(T0)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("revision", "message"),
    [
        ("0001", "schema 0001 is older"),
        ("9999", "newer player.*upgrade lomuz-player"),
    ],
)
def test_a_schema_not_ours_says_what_to_do(tmp_path: Path, revision: str, message: str) -> None:
    db_path = tmp_path / "player.db"
    busy_database(db_path)
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.close()
    with pytest.raises(StoreError, match=message):
        StoreReader.open(db_path)
    with pytest.raises(StoreError, match=message):
        PlayerStore.open_read_only(db_path)


def test_not_a_database_names_the_file(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    db_path.write_bytes(b"not sqlite" * 100)
    with pytest.raises(StoreError, match=str(db_path)):
        StoreReader.open(db_path)
