"""Engine, sessions and migrations. Identical code on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from control_api.errors import StoreError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_WRITE = "lomuz_write"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str) -> Engine:
    """An engine with SQLite tuned for a threaded server (WAL, BEGIN IMMEDIATE on writes)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a play acknowledged to a device is deleted from its outbox, so a
        # commit must survive a power cut (NORMAL under WAL may lose the last ones).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred read-then-write fails at once under WAL contention; writers
        # take the lock up front instead.
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


CommitListener = Callable[[Sequence[tuple[str, int]]], None]
_REVISIONS_KEY = "lomuz_revisions"


def note_revision(s: Session, tenant_id: str, revision: int) -> None:
    """After this session commits, the commit listener hears ``tenant_id`` is at ``revision``."""
    s.info.setdefault(_REVISIONS_KEY, []).append((tenant_id, revision))


class Database:
    """Owns the engine; hands out short read and write sessions.

    A listener set by :meth:`listen_commits` hears, after each write session that
    committed, the (tenant id, revision) pairs :func:`note_revision` recorded in it
    (the composition root hands them to the push nudger). It runs on the writer's
    thread: it must return at once and never raise.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._on_commit: CommitListener | None = None

    def listen_commits(self, listener: CommitListener | None) -> None:
        self._on_commit = listener

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A read transaction; ``snapshot`` makes every query see one state (a manifest)."""
        with self.engine.connect() as conn:
            if snapshot and conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            # Rows are read after the block (e.g. a page of plays): do not expire them.
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with Session(bind=conn, expire_on_commit=False) as session:
                with session.begin():
                    yield session
                revisions = session.info.pop(_REVISIONS_KEY, None)
        if revisions and self._on_commit is not None:
            self._on_commit(revisions)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            log.warning("database ping failed", exc_info=True)
            return False
        return True

    def upgrade(self) -> None:
        """Apply the alembic migrations shipped in the package."""
        try:
            with self.engine.begin() as conn:
                cfg = Config()
                cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate the database: {exc}") from exc

    def dispose(self) -> None:
        self.engine.dispose()
