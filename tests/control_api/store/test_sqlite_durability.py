"""SQLite commits survive a power cut: plays are acknowledged to devices, which then
drop them from their outbox, so a commit must be on disk (synchronous=FULL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from control_api.store.db import Database


def test_sqlite_is_synchronous_full_under_wal(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'control.db'}")
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        db.dispose()
