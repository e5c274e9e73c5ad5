"""The SQLite engines the store runs on, their pragmas, and migrating to head.

Driver autocommit with explicit ``BEGIN``/``BEGIN IMMEDIATE`` (``on_begin``);
WAL with ``synchronous=FULL`` for the file; exclusive locking when a full disk
leaves no room for the ``-shm``; ``query_only`` for the read commands.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from player.errors import StoreError
from player.store.read_only import BUSY_TIMEOUT_MS, prepare_read_only, schema_problem
from player.store.read_only import current_revisions as read_only_revisions

if TYPE_CHECKING:
    from alembic.config import Config


def migrations_config(connection: Connection) -> Config:
    # alembic is imported only to migrate: the read commands start without it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "player.store:migrations")
    config.attributes["connection"] = connection
    return config


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Driver autocommit: transactions are begun explicitly in on_begin, which
    # is SQLAlchemy's documented recipe for BEGIN IMMEDIATE with pysqlite.
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_connect_exclusive(dbapi_connection: Any, record: Any) -> None:
    # Before the first WAL access: SQLite then keeps the WAL index in heap
    # memory and never needs the -shm file (which a full disk cannot grow).
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.execute("PRAGMA locking_mode=EXCLUSIVE")
    _on_connect(dbapi_connection, record)


def on_connect_stand_in(dbapi_connection: Any, _record: Any) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def on_connect_read_only(dbapi_connection: Any, _record: Any) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    prepare_read_only(dbapi_connection)


def on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("lomuz_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def file_engine(db_path: Path, *, exclusive: bool) -> Engine:
    connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
    if exclusive:  # one connection: a second one would be locked out by the first
        engine = create_engine(
            f"sqlite+pysqlite:///{db_path}",
            connect_args=connect_args,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )
        event.listen(engine, "connect", _on_connect_exclusive)
    else:
        engine = create_engine(f"sqlite+pysqlite:///{db_path}", connect_args=connect_args)
        event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


def has_content(db_path: Path) -> bool:
    try:
        return db_path.stat().st_size > 0
    except OSError:
        return False


def current_revisions(conn: Connection) -> set[str]:
    has_table = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).scalar_one()
    if not has_table:
        return set()
    return set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def upgrade_to_head(conn: Connection) -> None:
    from alembic import command

    command.upgrade(migrations_config(conn), "head")


def check_schema_readable(conn: Connection, db_path: Path) -> None:
    """StoreError unless the database is at this player's migration head."""
    problem = schema_problem(read_only_revisions(dbapi(conn)), db_path)
    if problem is not None:
        raise StoreError(problem)


def dbapi(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``conn``, inside ``conn``'s transaction."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw
