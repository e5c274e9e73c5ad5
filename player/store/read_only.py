"""The player database read with stdlib ``sqlite3`` only: for commands that must start fast.

``lomuz-player status`` runs on a Pi in a technician's terminal; importing
SQLAlchemy and alembic to read a few rows cost most of its start-up (issue 11).
This module owns what such a reader needs and imports nothing third-party:

- ``connect_read_only``: a connection that creates and changes no file;
- the schema revisions this player ships (``SCHEMA_REVISIONS``; a test checks
  they are alembic's, in order), so "is this database at our head?" needs no
  alembic;
- the status and plays queries (``read_counts``, ``read_quarantined_files``,
  ``read_local_plays``), which ``PlayerStore`` also runs, so the two readers
  cannot disagree;
- ``read_integrity``: SQLite's quick_check and the schema revisions (doctor);
- ``StoreReader``: those reads on a database opened read-only, and
  ``decide`` (``lomuz-player next``): the store's own decision query
  (``player.store.decision_query``) on that connection.

Instants are stored as integer microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from lomuz_rules.model import Decision, Tier
from player.core.clock import stored_instant
from player.core.files import FileState
from player.core.model import DeviceInfo, Outcome, Play
from player.core.status import SHOWN_STATE_KEYS, DeviceState, StoreCounts
from player.errors import SchemaBehind, StoreError

# Every alembic revision under migrations/versions, oldest first. Adding a
# migration means adding its revision here (tests/player/store checks it).
SCHEMA_REVISIONS = ("0001", "0002", "0003", "0004")
SCHEMA_HEAD = SCHEMA_REVISIONS[-1]

BUSY_TIMEOUT_MS = 5000

# The device state's keys in the ``state`` table. Only ``read_device_state``
# (below) and ``player.store.device_state.DeviceStateStore`` use them.
KEY_CURSOR = "cursor"
KEY_DEVICE = "device"
KEY_SYNC_INTERVAL_S = "sync_interval_s"  # the last manifest's
KEY_PLAYS_DROPPED = "plays.dropped"
# The daemon's "time never goes back" floor (written by the daemon, reset by
# ``lomuz-player clock reset``).
KEY_CLOCK_LOWER_BOUND = "clock_lower_bound"
# The syncer's. "Last sync" is KEY_LAST_SYNC_OK_AT: when the syncer last heard
# from the API, on the corrected clock.
KEY_LAST_SYNC_ERROR = "last_sync_error"
KEY_LAST_SYNC_ATTEMPT_AT = "last_sync_attempt_at"
KEY_LAST_SYNC_OK_AT = "last_sync_ok_at"
KEY_SYNC_FAILURES = "sync_failures"  # consecutive failed syncs; cleared by a success
# The janitor's: "1" while the scheduled media does not fit the cache budget.
KEY_STORAGE_FULL = "storage_full"
# The remote commands' ids already run, newest last (JSON list; player.core.commands).
KEY_COMMANDS_RUN = "commands.run"

__all__ = ["StoreCounts"]  # re-exported: the type lives in player.core.status

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_T = TypeVar("_T")


def to_micros(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {at!r}")
    return (at - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def connect_read_only(
    db_path: Path, *, timeout_s: float = BUSY_TIMEOUT_MS / 1000
) -> sqlite3.Connection:
    """A SQLite connection to ``db_path`` that creates and changes no file.

    ``mode=ro`` alone is not enough: on a WAL database whose ``-shm``/``-wal``
    files are absent (the daemon is stopped and closed it cleanly) SQLite
    creates them, owned by whoever runs the command, and leaves them behind; a
    root-owned ``-shm`` then stops the daemon ("attempt to write a readonly
    database"). Without a ``-shm`` nobody has the database open in WAL mode, so
    the main file is complete: it is opened ``immutable`` (no locks, no side
    files). With both present (the daemon runs, or was killed) they are used as
    they are. Raises ``sqlite3.Error`` (``unable to open`` when there is no file).
    """
    shm = db_path.with_name(db_path.name + "-shm")
    wal = db_path.with_name(db_path.name + "-wal")
    query = "mode=ro" if shm.exists() and wal.exists() else "mode=ro&immutable=1"
    return sqlite3.connect(
        f"{db_path.absolute().as_uri()}?{query}",
        uri=True,
        timeout=timeout_s,
        check_same_thread=False,
    )


def prepare_read_only(connection: sqlite3.Connection) -> None:
    """Autocommit (transactions are explicit), busy timeout, and no write possible."""
    # No journal_mode/synchronous here: those are the writer's, and setting
    # them is a write.
    connection.isolation_level = None
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA query_only=ON")


def unreadable(db_path: Path, reason: str) -> str:
    return (
        f"cannot read {db_path}: {reason}; "
        f"run as root or as the data directory's owner (sudo -u lomuz ...)"
    )


def current_revisions(connection: sqlite3.Connection) -> set[str]:
    """The alembic revisions the database says it is at; none when it cannot say.

    No table (never migrated) and a file that is not a database both read as
    "none": the read commands then say the schema is not theirs.
    """
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        return set()
    return {str(row[0]) for row in rows}


@dataclass(frozen=True)
class Integrity:
    """What ``read_integrity`` found: SQLite's own verdict and the schema revisions."""

    quick_check: str  # "ok", else SQLite's findings joined with "; "
    revisions: frozenset[str]  # empty: never migrated (no alembic_version table)

    @property
    def at_head(self) -> bool:
        return self.revisions == {SCHEMA_HEAD}


def read_integrity(connection: sqlite3.Connection) -> Integrity:
    """``PRAGMA quick_check`` and the revisions, for ``lomuz-player doctor``.

    Raises ``sqlite3.Error`` when the file cannot be read at all ("file is not a
    database", I/O errors): quick_check runs first, so those surface there.
    """
    rows = connection.execute("PRAGMA quick_check").fetchall()
    verdict = "; ".join(str(row[0]) for row in rows)
    revisions = frozenset(current_revisions(connection)) if verdict == "ok" else frozenset()
    return Integrity(verdict, revisions)


def schema_behind(current: set[str]) -> bool:
    """At an older revision of this player's, or at none (not migrated yet)."""
    return current != {SCHEMA_HEAD} and not current - set(SCHEMA_REVISIONS)


def schema_problem(current: set[str], db_path: Path) -> str | None:
    """Why a read command cannot read a database at ``current``; None at this head."""
    if current == {SCHEMA_HEAD}:
        return None
    shown = ",".join(sorted(current)) or "none"
    if current - set(SCHEMA_REVISIONS):
        return (
            f"{db_path}: written by a newer player (schema {shown}, this one knows up to "
            f"{SCHEMA_HEAD}): upgrade lomuz-player"
        )
    return (
        f"{db_path}: schema {shown} is older than this player's ({SCHEMA_HEAD}); "
        "read commands never migrate: restart the player (systemctl restart lomuz-player), "
        "which migrates it, then run this again"
    )


def device_from_json(raw: str) -> DeviceInfo:
    data = json.loads(raw)
    return DeviceInfo(
        id=data["id"], name=data["name"], timezone=data["timezone"], groups=tuple(data["groups"])
    )


def _count(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() else 0


def read_device_state(get_state: Callable[[str], str | None]) -> DeviceState:
    """The device state, typed: the one reader of these keys (``DeviceStateStore``
    and ``StoreReader`` pass their ``get_state``; so does a test)."""
    device = get_state(KEY_DEVICE)
    shown = tuple((key, value) for key in SHOWN_STATE_KEYS if (value := get_state(key)) is not None)
    return DeviceState(
        cursor=get_state(KEY_CURSOR),
        device=None if device is None else device_from_json(device),
        last_sync_ok_at=stored_instant(get_state(KEY_LAST_SYNC_OK_AT)),
        last_sync_attempt_at=stored_instant(get_state(KEY_LAST_SYNC_ATTEMPT_AT)),
        last_sync_error=get_state(KEY_LAST_SYNC_ERROR) or None,
        sync_failures=_count(get_state(KEY_SYNC_FAILURES)),
        clock_lower_bound=stored_instant(get_state(KEY_CLOCK_LOWER_BOUND)),
        plays_dropped=int(get_state(KEY_PLAYS_DROPPED) or "0"),
        storage_full=get_state(KEY_STORAGE_FULL) == "1",
        shown=shown,
    )


def read_state(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def read_cursor(connection: sqlite3.Connection) -> str | None:
    """The manifest cursor the database is at (``doctor`` reads it on its own connection)."""
    return read_state(connection, KEY_CURSOR)


def read_counts(connection: sqlite3.Connection, at: datetime | None) -> StoreCounts:
    """Row counts as stored (nothing kept in memory); quarantines still active at ``at``.

    ``at`` None counts every quarantine ever set.
    """

    def count(sql: str, *params: object) -> int:
        return int(connection.execute(sql, params).fetchone()[0])

    if at is None:
        quarantined = count("SELECT count(*) FROM files WHERE quarantined_until IS NOT NULL")
    else:
        quarantined = count("SELECT count(*) FROM files WHERE quarantined_until > ?", to_micros(at))
    return StoreCounts(
        assets=count("SELECT count(*) FROM assets"),
        playlists=count("SELECT count(*) FROM playlists"),
        schedules=count("SELECT count(*) FROM schedules"),
        files_present=count("SELECT count(*) FROM files WHERE present = 1"),
        quarantined=quarantined,
        outbox_pending=count("SELECT count(*) FROM plays WHERE uploaded = 0"),
        outbox_total=count("SELECT count(*) FROM plays"),
        plays_dropped=int(read_state(connection, KEY_PLAYS_DROPPED) or "0"),
    )


def read_quarantined_files(connection: sqlite3.Connection, at: datetime) -> list[FileState]:
    """Files whose quarantine still holds at ``at``, by sha256."""
    rows = connection.execute(
        "SELECT sha256, size_bytes, present, verified_at, quarantined_until, "
        "quarantine_reason, last_played_at FROM files WHERE quarantined_until > ? "
        "ORDER BY sha256",
        (to_micros(at),),
    ).fetchall()

    def instant(value: int | None) -> datetime | None:
        return None if value is None else from_micros(value)

    return [
        FileState(
            sha256=sha256,
            size_bytes=size_bytes,
            present=bool(present),
            verified_at=instant(verified_at),
            quarantined_until=instant(quarantined_until),
            quarantine_reason=reason,
            last_played_at=instant(last_played_at),
        )
        for (
            sha256,
            size_bytes,
            present,
            verified_at,
            quarantined_until,
            reason,
            last_played_at,
        ) in rows
    ]


def read_local_plays(connection: sqlite3.Connection, limit: int | None) -> list[tuple[Play, bool]]:
    """The local proof-of-play log, newest last (the newest ``limit``), with the uploaded flag."""
    rows = connection.execute(
        "SELECT id, asset_id, sha256, started_at, ended_at, source, outcome, schedule_id, "
        "playlist_id, uploaded FROM plays ORDER BY seq DESC LIMIT ?",
        (-1 if limit is None else limit,),  # SQLite: a negative LIMIT is no limit
    ).fetchall()
    return [
        (
            Play(
                id=play_id,
                asset_id=asset_id,
                sha256=sha256,
                started_at=from_micros(started_at),
                ended_at=from_micros(ended_at),
                source=Tier(source),
                outcome=Outcome(outcome),
                schedule_id=schedule_id,
                playlist_id=playlist_id,
            ),
            bool(uploaded),
        )
        for (
            play_id,
            asset_id,
            sha256,
            started_at,
            ended_at,
            source,
            outcome,
            schedule_id,
            playlist_id,
            uploaded,
        ) in reversed(rows)
    ]


class StoreReader:
    """Status and plays reads on a database opened read-only; ``open``, then ``close()``.

    Same answers as ``PlayerStore.open_read_only`` for what it offers (a
    read-only store keeps nothing in memory), without SQLAlchemy. One
    connection, one thread.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @classmethod
    def open(cls, db_path: Path) -> StoreReader | None:
        """The database at ``db_path``, None when there is none yet (nothing is created).

        Raises ``StoreError`` saying what to do when this user may not read it
        or its schema is not this player's.
        """
        try:
            if not db_path.is_file():
                return None
        except OSError as exc:  # a parent directory we may not search (0750)
            raise StoreError(unreadable(db_path, exc.strerror or str(exc))) from exc
        try:
            connection = connect_read_only(db_path)
        except sqlite3.Error as exc:
            raise StoreError(unreadable(db_path, str(exc))) from exc
        try:
            prepare_read_only(connection)
            current = current_revisions(connection)
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(unreadable(db_path, str(exc))) from exc
        problem = schema_problem(current, db_path)
        if problem is not None:
            connection.close()
            raise SchemaBehind(problem) if schema_behind(current) else StoreError(problem)
        return cls(connection)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_state(self, key: str) -> str | None:
        return self._guarded(lambda: read_state(self._connection, key))

    def cursor(self) -> str | None:
        return self.get_state(KEY_CURSOR)

    def device(self) -> DeviceInfo | None:
        raw = self.get_state(KEY_DEVICE)
        return None if raw is None else device_from_json(raw)

    def stored_clock_lower_bound(self) -> str | None:
        """The clock lower bound as stored, even unparsable ("" once reset)."""
        return self.get_state(KEY_CLOCK_LOWER_BOUND)

    def device_state(self) -> DeviceState:
        return self._guarded(
            lambda: read_device_state(lambda key: read_state(self._connection, key))
        )

    def counts(self, at: datetime | None = None) -> StoreCounts:
        return self._guarded(lambda: read_counts(self._connection, at))

    def dropped_plays_count(self) -> int:
        return int(self.get_state(KEY_PLAYS_DROPPED) or "0")

    def quarantined_files(self, at: datetime) -> list[FileState]:
        return self._guarded(lambda: read_quarantined_files(self._connection, at))

    def local_plays(self, limit: int | None = None) -> list[tuple[Play, bool]]:
        return self._guarded(lambda: read_local_plays(self._connection, limit))

    def decide(
        self,
        at: datetime,
        fallback: Tier = Tier.JINGLE,
        choice: Callable[[Sequence[str]], str] | None = None,
    ) -> Decision:
        """What plays at ``at`` (``lomuz-player next``): the store's own decision query."""
        # Imported here: it converts rows with player.store.rows, which needs this module.
        from player.store.decision_query import SqliteReads, decide_once

        return self._guarded(
            lambda: decide_once(SqliteReads(self._connection), at, fallback, choice)
        )

    def _guarded(self, read: Callable[[], _T]) -> _T:
        """``read`` in one read transaction (a consistent snapshot); errors as StoreError."""
        try:
            self._connection.execute("BEGIN")
            try:
                return read()
            finally:
                self._connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc
