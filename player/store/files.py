"""``FileIndex``: what the store knows of each media file, by sha256.

Whether it is in the cache (verified, forgotten) and whether it may play
(quarantined after a failure). ``Decisions`` reads the same rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from player.core.files import FileState
from player.store import tables as t
from player.store.database import Database, check_sha256
from player.store.engine import dbapi
from player.store.read_only import read_quarantined_files
from player.store.rows import file_from_row


class FileIndex:
    """The ``files`` table: presence, verification and quarantine."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def mark_file_verified(self, sha256: str, size_bytes: int, at: datetime) -> None:
        """The file with this hash is in the cache, size and hash checked."""
        check_sha256(sha256)
        with self._db.write() as conn:
            stmt = sqlite_insert(t.files).values(
                sha256=sha256, size_bytes=size_bytes, present=True, verified_at=at
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.files.c.sha256],
                    set_={"size_bytes": size_bytes, "present": True, "verified_at": at},
                )
            )

    def forget_file(self, sha256: str) -> None:
        """The file left the cache (evicted or damaged); quarantine is kept."""
        with self._db.write() as conn:
            conn.execute(
                update(t.files)
                .where(t.files.c.sha256 == sha256)
                .values(present=False, verified_at=None)
            )

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        """Never play this file before ``until`` (it failed to play)."""
        check_sha256(sha256)
        with self._db.write() as conn:
            size = conn.execute(
                select(t.assets.c.size_bytes).where(t.assets.c.sha256 == sha256).limit(1)
            ).scalar()
            stmt = sqlite_insert(t.files).values(
                sha256=sha256,
                size_bytes=size or 0,
                present=False,
                quarantined_until=until,
                quarantine_reason=reason,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.files.c.sha256],
                    set_={"quarantined_until": until, "quarantine_reason": reason},
                )
            )

    def quarantined_files(self, at: datetime) -> list[FileState]:
        with self._db.read() as conn:
            return read_quarantined_files(dbapi(conn), at)

    def file_states(self) -> list[FileState]:
        with self._db.read() as conn:
            rows = conn.execute(select(t.files).order_by(t.files.c.sha256)).all()
        return [file_from_row(row) for row in rows]
