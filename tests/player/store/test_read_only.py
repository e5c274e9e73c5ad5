"""``PlayerStore.open_read_only``: reads without creating, migrating or touching a file.

The field failure: ``lomuz-player status`` as root created a root-owned
``player.db`` (and, on a WAL database, root-owned ``-wal``/``-shm`` files), and
the daemon then failed with "attempt to write a readonly database".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from player.errors import StoreError
from player.store import PlayerStore
from player.store.read_only import connect_read_only


def files_with_mtimes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(directory.iterdir())}


def make_db(db_path: Path, cursor: str = "c-1") -> None:
    with PlayerStore.open(db_path) as store:
        store.state.set_raw("cursor", cursor)


def test_no_database_is_none_and_creates_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "missing" / "player.db"
    assert PlayerStore.open_read_only(db_path) is None
    assert not (tmp_path / "missing").exists()


def test_a_closed_wal_database_is_read_without_side_files(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    make_db(db_path)
    before = files_with_mtimes(tmp_path)
    assert list(before) == ["player.db"]  # the daemon closed it cleanly: no -wal/-shm
    store = PlayerStore.open_read_only(db_path)
    assert store is not None
    try:
        assert store.state.cursor() == "c-1"
        assert store.outbox.counts().assets == 0
        assert store.outbox.local_plays() == []
    finally:
        store.close()
    # Plain mode=ro would have left root-owned player.db-wal and player.db-shm here.
    assert files_with_mtimes(tmp_path) == before


def test_a_database_the_daemon_has_open_is_read_live(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    with PlayerStore.open(db_path) as daemon:
        daemon.state.set_raw("cursor", "c-1")
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["player.db", "player.db-shm", "player.db-wal"]
        reader = PlayerStore.open_read_only(db_path)
        assert reader is not None
        try:
            assert reader.state.cursor() == "c-1"
            daemon.state.set_raw("cursor", "c-2")
            assert reader.state.cursor() == "c-2"  # sees the daemon's commits (shared WAL index)
        finally:
            reader.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_writes_are_refused(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    make_db(db_path)
    store = PlayerStore.open_read_only(db_path)
    assert store is not None
    try:
        with pytest.raises(StoreError, match="readonly"):
            store.state.set_raw("cursor", "changed")
    finally:
        store.close()
    with PlayerStore.open(db_path) as check:
        assert check.state.cursor() == "c-1"


def set_revision(db_path: Path, revision: str) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.close()


def test_an_old_schema_is_not_migrated_and_says_what_to_do(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    make_db(db_path)
    set_revision(db_path, "0001")
    with pytest.raises(StoreError) as info:
        PlayerStore.open_read_only(db_path)
    text = str(info.value)
    assert "schema 0001 is older" in text
    assert "systemctl restart lomuz-player" in text
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    conn.close()


def test_a_newer_schema_says_upgrade(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    make_db(db_path)
    set_revision(db_path, "9999")
    with pytest.raises(StoreError, match=r"newer player.*upgrade lomuz-player"):
        PlayerStore.open_read_only(db_path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    db_path.write_bytes(b"not sqlite" * 100)
    with pytest.raises(StoreError, match=str(db_path)):
        PlayerStore.open_read_only(db_path)


def test_connect_read_only_leaves_no_file_behind(tmp_path: Path) -> None:
    db_path = tmp_path / "player.db"
    make_db(db_path)
    before = files_with_mtimes(tmp_path)
    conn = connect_read_only(db_path)
    try:
        assert conn.execute("SELECT value FROM state WHERE key = 'cursor'").fetchone() == ("c-1",)
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM state")
    finally:
        conn.close()
    assert files_with_mtimes(tmp_path) == before
