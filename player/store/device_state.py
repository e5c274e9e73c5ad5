"""``DeviceStateStore``: the one owner of the device state in the ``state`` table.

The keys (``player.store.read_only.KEY_*``) are named here and in
``read_device_state`` only: the syncer, the janitor, the clock and the CLI
call typed methods. A write the full filesystem refuses is kept in memory and
retried (``Database.set_state``); reads see it meanwhile.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from player.core.model import DeviceInfo, Manifest
from player.core.status import DeviceState
from player.store.database import Database, get_state, set_state
from player.store.read_only import (
    KEY_CLOCK_LOWER_BOUND,
    KEY_COMMANDS_RUN,
    KEY_CURSOR,
    KEY_DEVICE,
    KEY_LAST_SYNC_ATTEMPT_AT,
    KEY_LAST_SYNC_ERROR,
    KEY_LAST_SYNC_OK_AT,
    KEY_PLAYS_DROPPED,
    KEY_STORAGE_FULL,
    KEY_SYNC_FAILURES,
    KEY_SYNC_INTERVAL_S,
    device_from_json,
    read_device_state,
)
from player.store.rows import device_to_json
from player.wire import format_instant


class DeviceStateStore:
    """Typed reads and writes of the device state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def read(self) -> DeviceState:
        """The device state, typed (``read_device_state``: the one reader of its keys)."""
        return read_device_state(self._db.get_state)

    def cursor(self) -> str | None:
        return self._db.get_state(KEY_CURSOR)

    def device(self) -> DeviceInfo | None:
        raw = self._db.get_state(KEY_DEVICE)
        return None if raw is None else device_from_json(raw)

    def stored_sync_interval(self) -> str | None:
        """``sync_interval_s`` as stored: an older player may have left it out of range."""
        return self._db.get_state(KEY_SYNC_INTERVAL_S)

    def set_sync_interval_s(self, interval_s: int) -> None:
        self._db.set_state(KEY_SYNC_INTERVAL_S, str(interval_s))

    def set_clock_lower_bound(self, at: datetime | None) -> None:
        """Persist the clock's floor; None deletes it (``lomuz-player clock reset``)."""
        self._db.set_state(KEY_CLOCK_LOWER_BOUND, "" if at is None else at.isoformat())

    def set_storage_full(self, full: bool) -> None:
        self._db.set_state(KEY_STORAGE_FULL, "1" if full else "")

    def record_sync_attempt(self, at: datetime) -> None:
        self._db.set_state(KEY_LAST_SYNC_ATTEMPT_AT, format_instant(at))

    def record_sync_error(self, error: str) -> None:
        """A failed sync: its error, and one more consecutive failure counted."""
        self._db.set_state(KEY_LAST_SYNC_ERROR, error)
        self._db.set_state(KEY_SYNC_FAILURES, str(self.read().sync_failures + 1))

    def record_sync_ok(self, at: datetime) -> None:
        """The API answered at ``at`` ("last sync"): the error is cleared."""
        self._db.set_state(KEY_LAST_SYNC_ERROR, "")
        self._db.set_state(KEY_SYNC_FAILURES, "")
        self._db.set_state(KEY_LAST_SYNC_OK_AT, format_instant(at))

    def commands_run(self) -> str | None:
        """The ids of the remote commands already run, as stored (``player.core.commands``)."""
        return self._db.get_state(KEY_COMMANDS_RUN)

    def set_commands_run(self, encoded: str) -> None:
        self._db.set_state(KEY_COMMANDS_RUN, encoded)

    def get_raw(self, key: str) -> str | None:
        """Any key as stored (tests and diagnostics; callers use the typed methods)."""
        return self._db.get_state(key)

    def set_raw(self, key: str, value: str) -> None:
        """Any key (tests and diagnostics; callers use the typed methods)."""
        self._db.set_state(key, value)


# --- inside another owner's transaction ----------------------------------------


def write_manifest_state(conn: Connection, manifest: Manifest) -> None:
    """What an applied manifest sets: its cursor, the device, the sync interval."""
    set_state(conn, KEY_CURSOR, manifest.cursor)
    set_state(conn, KEY_DEVICE, device_to_json(manifest.device))
    set_state(conn, KEY_SYNC_INTERVAL_S, str(manifest.sync_interval_s))


def stored_timezone(conn: Connection) -> str:
    """The device's time zone; UTC before the first manifest."""
    raw = get_state(conn, KEY_DEVICE)
    return device_from_json(raw).timezone if raw else "UTC"


def add_dropped_plays(conn: Connection, count: int) -> None:
    dropped = int(get_state(conn, KEY_PLAYS_DROPPED) or "0") + count
    set_state(conn, KEY_PLAYS_DROPPED, str(dropped))


def stored_dropped_plays(db: Database) -> int:
    return int(db.get_state(KEY_PLAYS_DROPPED) or "0")
