"""``PlayerStore``: the player's SQLite store, as the parts that own it.

One ``Database`` (``player.store.database``: opening, migrations, the
exclusive, stand-in and read-only modes, transactions, the full-disk
write-back), and over it one small class per owner:

==============  ==========================  =========================================
attribute       class                       owns
==============  ==========================  =========================================
``state``       ``DeviceStateStore``        the device state (cursor, device, sync,
                                            clock floor, storage flag), typed
``catalogue``   ``CatalogueStore``          manifests applied: assets, playlists,
                                            schedules, the files they reference
``decisions``   ``Decisions``               what plays at an instant, and why
``rotation``    ``Rotation``                starts, in-progress items, rotation
``outbox``      ``Outbox``                  proof of play, its upload and bound
``files``       ``FileIndex``               verified, forgotten, quarantined files
==============  ==========================  =========================================

Callers take the part they use (the telemetry uploader the outbox, the syncer
the catalogue and the state); ``PlayerStore`` only opens and closes them together.
"""

from __future__ import annotations

from pathlib import Path

from player.store.catalogue import ApplyResult, CatalogueStore
from player.store.database import Database
from player.store.decisions import Decisions
from player.store.deferred import DEFAULT_MAX_PLAYS, DEFAULT_RETRY_INTERVAL_S
from player.store.device_state import DeviceStateStore
from player.store.files import FileIndex
from player.store.outbox import DEFAULT_OUTBOX_MAX_ROWS, Outbox
from player.store.read_only import StoreCounts
from player.store.rotation import Rotation

__all__ = ["DEFAULT_OUTBOX_MAX_ROWS", "ApplyResult", "PlayerStore", "StoreCounts"]


class PlayerStore:
    """The store's parts over one database. Build with ``open``; ``close()`` when done."""

    def __init__(self, db: Database, outbox_max_rows: int = DEFAULT_OUTBOX_MAX_ROWS) -> None:
        self.db = db
        self.state = DeviceStateStore(db)
        self.catalogue = CatalogueStore(db)
        self.decisions = Decisions(db)
        self.outbox = Outbox(db, outbox_max_rows)
        self.rotation = Rotation(db, self.outbox)
        self.files = FileIndex(db)

    @classmethod
    def open(
        cls,
        db_path: Path,
        *,
        outbox_max_rows: int = DEFAULT_OUTBOX_MAX_ROWS,
        memory_if_full: bool = False,
        max_deferred_plays: int = DEFAULT_MAX_PLAYS,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
    ) -> PlayerStore:
        """Open (creating if needed) and migrate the database: see ``Database.open``."""
        if outbox_max_rows < 1:
            raise ValueError(f"outbox_max_rows must be >= 1, got {outbox_max_rows}")
        db = Database.open(
            db_path,
            memory_if_full=memory_if_full,
            max_deferred_plays=max_deferred_plays,
            retry_interval_s=retry_interval_s,
        )
        return cls(db, outbox_max_rows)

    @classmethod
    def open_read_only(
        cls, db_path: Path, *, outbox_max_rows: int = DEFAULT_OUTBOX_MAX_ROWS
    ) -> PlayerStore | None:
        """An existing database for reading only, None when there is none yet
        (see ``Database.open_read_only``)."""
        db = Database.open_read_only(db_path)
        return None if db is None else cls(db, outbox_max_rows)

    def close(self) -> None:
        """Write back what was kept (one last try), say what is lost, close."""
        self.db.close()

    def __enter__(self) -> PlayerStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
