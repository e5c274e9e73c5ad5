"""``Database``: the player's SQLite file, opened, migrated, read and written.

Every owner of the store (catalogue, decisions, rotation, outbox, files,
device state) is a small class over one ``Database``; this module owns what
they share: the engine and its modes, the transactions, the in-memory side of
a full filesystem (``player.store.deferred``) and the helpers on a connection.

Threading: one instance is shared by every thread; each call takes its own
pooled connection and transaction. Reads run in a deferred transaction (a
consistent snapshot); writes start with ``BEGIN IMMEDIATE`` so a writer waits
for the lock (``busy_timeout``) up front instead of failing on upgrade.
SQLAlchemy errors leave this module as ``StoreError``; a write that fails
because the filesystem is full as ``StoreFull``, one that did not get the lock
within its wait as ``StoreBusy``. A write may wait less than ``busy_timeout``
(``write(lock_wait_s=...)``): playback's start of an item waits
``SHORT_LOCK_WAIT_S`` and, past it, is kept like a write to a full disk
(``write_or_keep(..., keep_if_busy=True)``) rather than stall the music behind
a manifest's one long transaction.

A full filesystem never stops playback: opening needs no free space when the
schema is current (no migration is run, and when SQLite cannot size its
``-shm`` the file is opened in exclusive locking mode, whose WAL index lives in
memory; with no usable file at all, ``open(..., memory_if_full=True)`` stands
in an empty in-memory database until the file can be opened). What cannot be
written is kept by ``DeferredWrites`` and written back by the hook the outbox
attaches (``attach_write_back``), in order, once a retry succeeds.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from player.errors import StoreBusy, StoreError, StoreFull
from player.store import tables as t
from player.store.deferred import (
    DEFAULT_MAX_PLAYS,
    DEFAULT_RETRY_INTERVAL_S,
    DeferredPlay,
    DeferredWrites,
    StartedEntry,
    is_busy,
    is_disk_full,
)
from player.store.engine import (
    check_schema_readable,
    current_revisions,
    dbapi,
    file_engine,
    has_content,
    on_begin,
    on_connect_read_only,
    on_connect_stand_in,
    upgrade_to_head,
)
from player.store.read_only import BUSY_TIMEOUT_MS, SCHEMA_HEAD, connect_read_only, unreadable

log = logging.getLogger(__name__)

FLUSH_PLAYS_PER_CALL = 50  # a write-back from the playback thread stays short
# How long playback's writes wait for the lock before keeping what they write:
# other writers' transactions take milliseconds, a 100k-asset manifest seconds.
SHORT_LOCK_WAIT_S = 0.02
_SQL_CHUNK = 500

# Writes back what ``DeferredWrites.peek`` returned, in one transaction.
WriteBack = Callable[
    [Connection, list[StartedEntry], dict[str, str], list[DeferredPlay], int], None
]


class Database:
    """The engine and its transactions. Build with ``open`` or ``open_read_only``."""

    def __init__(
        self,
        engine: Engine,
        *,
        deferred: DeferredWrites | None = None,
        db_path: Path | None = None,
        stand_in_keeper: sqlite3.Connection | None = None,
    ) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(lomuz_write=True)
        self._db_path = db_path
        self.deferred = deferred or DeferredWrites(db_path)
        self._flush_lock = threading.Lock()
        self._reattach_lock = threading.Lock()
        # Set while an in-memory stand-in replaces a file that could not be opened:
        # it keeps the memory database alive; writes are refused (kept) meanwhile.
        self._stand_in_keeper = stand_in_keeper
        self._write_back: WriteBack | None = None
        # Bumped when the stand-in is retired: what was cached from it is stale.
        self.generation = 0

    # --- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db_path: Path,
        *,
        memory_if_full: bool = False,
        max_deferred_plays: int = DEFAULT_MAX_PLAYS,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``db_path``.

        A current schema is only read, never written. When the filesystem is
        full, an existing current database opens anyway (see the module
        docstring); one that cannot be created or migrated raises ``StoreFull``,
        or with ``memory_if_full`` gives an empty in-memory stand-in that
        switches to the file as soon as a retried write can open it.
        ``max_deferred_plays`` bounds the plays kept in memory meanwhile;
        ``retry_interval_s`` is the least time between two write-back attempts.
        """
        deferred = DeferredWrites(
            db_path, max_plays=max_deferred_plays, retry_interval_s=retry_interval_s
        )
        try:
            return cls._open_file(db_path, deferred)
        except StoreFull as exc:
            if not memory_if_full:
                raise
            log.warning(
                "store: cannot open %s (%s): playing from an empty in-memory stand-in "
                "(the built-in jingle) until it can be opened; plays wait in memory",
                db_path,
                exc,
            )
            return cls._open_stand_in(db_path, deferred)

    @classmethod
    def _open_file(cls, db_path: Path, deferred: DeferredWrites) -> Database:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise deferred.went_full(exc) from exc
            raise StoreError(f"cannot create {db_path.parent}: {exc}") from exc
        db = cls(file_engine(db_path, exclusive=False), deferred=deferred, db_path=db_path)
        try:
            db._migrate_if_needed()
            return db
        except StoreFull:
            db._engine.dispose()
            if not has_content(db_path):
                raise
        except BaseException:
            db._engine.dispose()
            raise
        # No room for the -shm: in exclusive locking mode SQLite keeps the WAL
        # index in heap memory. One connection, so other processes cannot read
        # until this one closes; only a full filesystem gets here.
        db = cls(file_engine(db_path, exclusive=True), deferred=deferred, db_path=db_path)
        try:
            db._migrate_if_needed()
        except BaseException:
            db._engine.dispose()
            raise
        log.warning(
            "store: %s opened in exclusive mode (no room for its -shm): read commands "
            "(status, next, plays) cannot read it until the player restarts",
            db_path,
        )
        return db

    @classmethod
    def _open_stand_in(cls, db_path: Path, deferred: DeferredWrites) -> Database:
        name = f"file:lomuz-stand-in-{uuid.uuid4().hex}?mode=memory&cache=shared"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(name, uri=True, check_same_thread=False)

        keeper = connect()
        engine = create_engine("sqlite+pysqlite://", creator=connect)
        event.listen(engine, "connect", on_connect_stand_in)
        event.listen(engine, "begin", on_begin)
        db = cls(engine, deferred=deferred, db_path=db_path, stand_in_keeper=keeper)
        try:
            with db.write(schema=True) as conn:
                upgrade_to_head(conn)
        except BaseException:
            engine.dispose()
            keeper.close()
            raise
        return db

    @classmethod
    def open_read_only(cls, db_path: Path) -> Database | None:
        """Open an existing database for reading only; None when there is none yet.

        For the read commands (``status``, ``next``, ``plays``): never creates a
        file or directory, never migrates, never writes (see ``connect_read_only``;
        the connections are also ``query_only``, so a write raises StoreError).
        A database whose schema is not this player's raises StoreError saying
        what to do, as does one this user may not read.
        """
        try:
            if not db_path.is_file():
                return None
        except OSError as exc:  # a parent directory we may not search (0750)
            raise StoreError(unreadable(db_path, exc.strerror or str(exc))) from exc
        try:  # fail here, with the fix, rather than on the first query
            connect_read_only(db_path).close()
        except sqlite3.Error as exc:
            raise StoreError(unreadable(db_path, str(exc))) from exc
        engine = create_engine(
            "sqlite+pysqlite://",
            creator=lambda: connect_read_only(db_path),
        )
        event.listen(engine, "connect", on_connect_read_only)
        event.listen(engine, "begin", on_begin)
        db = cls(engine)
        try:
            with db.read() as conn:
                check_schema_readable(conn, db_path)
        except BaseException:
            engine.dispose()
            raise
        return db

    def _migrate_if_needed(self) -> None:
        """Upgrade to head, but only when there is something to do (no write otherwise)."""
        with self.read() as conn:
            if current_revisions(conn) == {SCHEMA_HEAD}:
                return
        with self.write(schema=True) as conn:
            upgrade_to_head(conn)

    @property
    def stand_in(self) -> bool:
        """True while an empty in-memory database stands in for the file."""
        return self._stand_in_keeper is not None

    def _reattach(self) -> None:
        """Replace the in-memory stand-in with the file once it can be opened."""
        with self._reattach_lock:
            if self._stand_in_keeper is None:
                return
            if not self.deferred.retry_due():
                raise self.deferred.still_full()
            assert self._db_path is not None
            real = type(self)._open_file(self._db_path, self.deferred)
            old_engine, keeper = self._engine, self._stand_in_keeper
            self._engine, self._write_engine = real._engine, real._write_engine
            self._stand_in_keeper = None
            self.generation += 1
            old_engine.dispose()
            keeper.close()
            log.info("store: %s is open: the in-memory stand-in is retired", self._db_path)

    def close(self) -> None:
        """Write back what was kept (one last try), say what is lost, close."""
        if self.deferred.has_work():
            self.flush_deferred(force=True)
            lost = self.deferred.lost_at_close()
            if lost:
                log.error(
                    "store: %d plays could not be written (the filesystem is full) and are "
                    "lost with this process",
                    lost,
                )
        self._engine.dispose()
        if self._stand_in_keeper is not None:
            self._stand_in_keeper.close()

    # --- transactions --------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            if is_disk_full(exc):  # no room for the -shm
                raise self.deferred.went_full(exc) from exc
            raise StoreError(f"database read failed: {exc}") from exc

    @contextmanager
    def write(
        self, *, schema: bool = False, lock_wait_s: float | None = None
    ) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE``).

        ``lock_wait_s`` bounds the wait for another writer's lock (default
        ``busy_timeout``); past it ``StoreBusy`` is raised and nothing is written.
        """
        if self._stand_in_keeper is not None and not schema:
            self._reattach()
        try:
            if lock_wait_s is None:
                with self._write_engine.begin() as conn:
                    yield conn
            else:
                with (
                    self._write_engine.connect() as conn,
                    _lock_wait(conn, lock_wait_s),
                    conn.begin(),
                ):
                    yield conn
        except (SQLAlchemyError, sqlite3.Error) as exc:  # sqlite3's: _lock_wait's PRAGMA
            if is_disk_full(exc):
                raise self.deferred.went_full(exc) from exc
            if is_busy(exc):
                raise StoreBusy(f"database is locked by another writer: {exc}") from exc
            raise StoreError(f"database write failed: {exc}") from exc
        if self._stand_in_keeper is None:  # the stand-in's writes prove nothing about space
            self.deferred.wrote()

    def write_or_keep(
        self, write: Callable[[], None], keep: Callable[[], None], *, keep_if_busy: bool = False
    ) -> None:
        """Write now; when the filesystem is full (or things wait already), keep it.

        With ``keep_if_busy`` (the caller's ``write`` waits ``SHORT_LOCK_WAIT_S``)
        a write locked out by another writer is kept too, and the write-back this
        call may try waits no longer than that either.
        """
        if self.deferred.idle():
            try:
                write()
            except StoreFull:
                keep()
            except StoreBusy:
                if not keep_if_busy:
                    raise
                log.debug("store: the database is busy: a start is kept in memory meanwhile")
                keep()
            return
        keep()
        self.flush_deferred(
            max_plays=FLUSH_PLAYS_PER_CALL,
            lock_wait_s=SHORT_LOCK_WAIT_S if keep_if_busy else None,
        )

    # --- the deferred write-back ---------------------------------------------

    def attach_write_back(self, write_back: WriteBack) -> None:
        """How what ``deferred`` keeps is written (the outbox's, which knows every row)."""
        self._write_back = write_back

    def flush_deferred(
        self,
        *,
        max_plays: int | None = None,
        force: bool = False,
        lock_wait_s: float | None = None,
    ) -> bool:
        """Write back what a full filesystem (or a busy lock) made us keep; True when
        nothing waits.

        Tried at most every ``retry_interval_s`` (unless ``force``), never by two
        threads at once (the second returns at once), oldest first, with the
        original instants; ``max_plays`` bounds one call's work, ``lock_wait_s``
        its wait for the lock (see ``write``).
        """
        if not self.deferred.has_work():
            return True
        if self._write_back is None:
            raise RuntimeError("store: nothing attached to write back what is kept")
        if not force and not self.deferred.retry_due():
            return False
        if not self._flush_lock.acquire(blocking=False):
            return False
        try:
            started, state, plays, overflowed = self.deferred.peek(
                max_plays if max_plays is not None else self.deferred.max_plays
            )
            try:
                with self.write(lock_wait_s=lock_wait_s) as conn:
                    self._write_back(conn, started, state, plays, overflowed)
            except StoreFull:
                return False
            except StoreBusy as exc:  # another writer: kept, retried later
                self.deferred.failed_otherwise()
                log.debug("store: cannot write back kept starts yet: %s", exc)
                return False
            except StoreError as exc:  # locked, I/O: kept, retried later
                self.deferred.failed_otherwise()
                log.warning("store: cannot write back kept plays and state yet: %s", exc)
                return False
            self.deferred.written(started, state, plays, overflowed)  # committed
            self.deferred.wrote()  # with nothing left, the episode is over
            return not self.deferred.has_work()
        finally:
            self._flush_lock.release()

    # --- checks and small state ------------------------------------------------

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: "ok" when the file is sound."""
        with self.read() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").all()
        return "\n".join(str(row[0]) for row in rows)

    def get_state(self, key: str) -> str | None:
        """The stored value, or the newer one kept in memory while the disk is full."""
        kept = self.deferred.state(key)
        if kept is not None:
            return kept
        with self.read() as conn:
            return get_state(conn, key)

    def set_state(self, key: str, value: str) -> None:
        """Store a small state value; kept in memory (and retried) when the disk is full."""

        def write() -> None:
            with self.write() as conn:
                set_state(conn, key, value)

        self.write_or_keep(write, lambda: self.deferred.keep_state(key, value))


# --- helpers on a connection ----------------------------------------------------


@contextmanager
def _lock_wait(conn: Connection, wait_s: float) -> Iterator[None]:
    """``busy_timeout`` of ``conn``'s pooled connection is ``wait_s`` meanwhile."""
    raw = dbapi(conn)
    raw.execute(f"PRAGMA busy_timeout={max(0, round(wait_s * 1000))}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def get_state(conn: Connection, key: str) -> str | None:
    return conn.execute(select(t.state.c.value).where(t.state.c.key == key)).scalar()


def set_state(conn: Connection, key: str, value: str) -> None:
    stmt = sqlite_insert(t.state).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.state.c.key], set_={"value": value}))


def delete_state(conn: Connection, key: str) -> None:
    conn.execute(t.state.delete().where(t.state.c.key == key))


def chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _SQL_CHUNK):
        yield values[start : start + _SQL_CHUNK]


def check_sha256(sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
