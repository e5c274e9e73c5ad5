"""``Outbox``: the proof-of-play log and its upload queue, bounded.

``record_play`` appends a play (and advances the rotation it implies, like
``Rotation.mark_started``); the telemetry uploader sends ``pending_plays`` and
marks them uploaded. The outbox keeps at most ``max_rows`` plays: the oldest
uploaded go first, then the oldest unsent, counted as dropped. While the
filesystem is full plays are kept in memory (``player.store.deferred``); the
outbox writes them back (``write_back``, the database's hook).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, delete, func, select, update

from player.core.model import Play
from player.core.status import StoreCounts
from player.store import tables as t
from player.store.database import Database, chunks, set_state
from player.store.deferred import DeferredPlay, StartedEntry
from player.store.device_state import add_dropped_plays, stored_dropped_plays
from player.store.engine import dbapi
from player.store.read_only import read_counts, read_local_plays
from player.store.rotation import (
    drop_in_progress,
    mark_started_in,
    started_position,
    write_back_started,
)
from player.store.rows import play_from_row, play_to_row

DEFAULT_OUTBOX_MAX_ROWS = 50_000


class Outbox:
    """Plays recorded and not yet (or already) uploaded; at most ``max_rows``."""

    def __init__(self, db: Database, max_rows: int = DEFAULT_OUTBOX_MAX_ROWS) -> None:
        self._db = db
        self.set_max_rows(max_rows)
        db.attach_write_back(self.write_back)

    def set_max_rows(self, max_rows: int) -> None:
        if max_rows < 1:
            raise ValueError(f"outbox_max_rows must be >= 1, got {max_rows}")
        self._max_rows = max_rows

    def record_play(self, play: Play, *, playlist_position: int | None = None) -> None:
        """Append a play to the outbox and advance rotation, in one transaction.

        ``playlist_position`` is the decision's; when omitted it is inferred
        (the least recently played position of that asset in the playlist,
        which is the one ``decide`` picks), or the position ``mark_started``
        was given for this very item. A play id already stored is ignored.

        When the filesystem is full the play is kept in memory (bounded; what
        overflows is counted as dropped) and written back later with its
        original instants; this never raises ``StoreFull``.
        """
        if play.started_at.tzinfo is None or play.ended_at.tzinfo is None:
            raise ValueError("play instants must be timezone-aware")

        def write() -> None:
            with self._db.write() as conn:
                self.insert_in(conn, play, playlist_position)
                self.bound_in(conn)

        self._db.write_or_keep(write, lambda: self._db.deferred.keep_play(play, playlist_position))

    def bound_in(self, conn: Connection) -> None:
        """Keep at most ``max_rows`` plays (in ``conn``'s transaction)."""
        total = conn.execute(select(func.count()).select_from(t.plays)).scalar_one()
        excess = total - self._max_rows
        if excess <= 0:
            return
        for uploaded in (True, False):
            oldest = (
                select(t.plays.c.seq)
                .where(t.plays.c.uploaded.is_(uploaded))
                .order_by(t.plays.c.seq)
                .limit(excess)
            )
            removed = conn.execute(delete(t.plays).where(t.plays.c.seq.in_(oldest))).rowcount
            excess -= removed
            if not uploaded and removed:
                add_dropped_plays(conn, removed)
            if excess <= 0:
                return

    def pending_plays(self, limit: int) -> list[Play]:
        """Plays not yet uploaded, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.plays)
                .where(t.plays.c.uploaded.is_(False))
                .order_by(t.plays.c.seq)
                .limit(limit)
            ).all()
        return [play_from_row(row) for row in rows]

    def mark_plays_uploaded(self, play_ids: Sequence[str]) -> None:
        with self._db.write() as conn:
            for chunk in chunks(play_ids):
                conn.execute(update(t.plays).where(t.plays.c.id.in_(chunk)).values(uploaded=True))

    def local_plays(self, limit: int | None = None) -> list[tuple[Play, bool]]:
        """The local proof-of-play log, newest last, with the uploaded flag."""
        with self._db.read() as conn:
            return read_local_plays(dbapi(conn), limit)

    def dropped_plays_count(self) -> int:
        """Plays lost to the outbox bound, or to the in-memory bound of a full disk."""
        return stored_dropped_plays(self._db) + self._db.deferred.overflowed()

    def plays_recorded_count(self) -> int:
        """Plays ever recorded in this store: only goes up (the metrics' plays counter).

        ``plays.seq`` is SQLite's rowid (INTEGER PRIMARY KEY without
        AUTOINCREMENT), so a new row gets max(seq) + 1. Nothing deletes the
        newest row: ``bound_in`` removes the oldest ones and keeps
        ``outbox_max_rows`` >= 1, and uploading only flags rows. Hence
        max(seq) is the number of plays ever inserted (duplicates are not
        inserted). One index probe, whatever the outbox size.
        """
        with self._db.read() as conn:
            return int(conn.execute(select(func.max(t.plays.c.seq))).scalar_one() or 0)

    def counts(self, at: datetime | None = None) -> StoreCounts:
        """Row counts for status, the catalogue's too (one snapshot); ``quarantined``
        counts holds still active at ``at``.

        The queries are ``read_only.read_counts`` (what ``status`` runs without
        SQLAlchemy), plus what is kept in memory while the disk is full.
        """
        kept, overflowed = self._db.deferred.plays_count(), self._db.deferred.overflowed()
        with self._db.read() as conn:
            stored = read_counts(dbapi(conn), at)
        return replace(
            stored,
            outbox_pending=stored.outbox_pending + kept,
            outbox_total=stored.outbox_total + kept,
            plays_dropped=stored.plays_dropped + overflowed,
            plays_in_memory=kept,
        )

    def insert_in(self, conn: Connection, play: Play, playlist_position: int | None) -> None:
        """The outbox row and the rotation it implies; a play id already stored is ignored."""
        drop_in_progress(conn, play.id)
        exists = conn.execute(select(t.plays.c.seq).where(t.plays.c.id == play.id)).first()
        if exists is not None:
            return
        conn.execute(t.plays.insert().values(**play_to_row(play)))
        if playlist_position is None:
            playlist_position = started_position(conn, play)
        mark_started_in(
            conn,
            asset_id=play.asset_id,
            sha256=play.sha256,
            source=play.source,
            started_at=play.started_at,
            playlist_id=play.playlist_id,
            position=playlist_position,
        )

    def write_back(
        self,
        conn: Connection,
        started: list[StartedEntry],
        state: dict[str, str],
        plays: list[DeferredPlay],
        overflowed: int,
    ) -> None:
        """What a full filesystem kept in memory, in its original order (``flush_deferred``)."""
        write_back_started(conn, started)
        for key, value in state.items():
            set_state(conn, key, value)
        for item in plays:
            self.insert_in(conn, item.play, item.position)
        if overflowed:
            add_dropped_plays(conn, overflowed)
        if plays:
            self.bound_in(conn)
