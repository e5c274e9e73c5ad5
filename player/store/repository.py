"""``PlayerStore``: the player's SQLite repository.

Threading: one instance is shared by every thread; each call takes its own
pooled connection and transaction. Reads run in a deferred transaction (a
consistent snapshot); writes start with ``BEGIN IMMEDIATE`` so a writer waits
for the lock (``busy_timeout``) up front instead of failing on upgrade.
SQLAlchemy errors leave this module as ``StoreError``; a write that fails
because the filesystem is full as ``StoreFull``.

A full filesystem never stops playback (``player.store.deferred``): opening
needs no free space when the schema is current (no migration is run, and when
SQLite cannot size its ``-shm`` the file is opened in exclusive locking mode,
whose WAL index lives in memory; with no usable file at all, ``open(...,
memory_if_full=True)`` stands in an empty in-memory database until the file can
be opened). Plays, rotation and state keys that cannot be written are kept in
memory, bounded, and written back in order once a retry succeeds; ``decide``
and ``get_state`` see them meanwhile.
"""

from __future__ import annotations

import bisect
import errno
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from lomuz_rules import schedule as rules
from lomuz_rules.model import (
    MINUTES_PER_DAY,
    Asset,
    Decision,
    MediaType,
    Playlist,
    PlaylistItem,
    Schedule,
    TargetKind,
    Tier,
)
from player.core.files import FileNeed, FileState
from player.core.model import DeviceInfo, Manifest, Outcome, Play
from player.core.status import DeviceState
from player.errors import ManifestError, StoreError, StoreFull
from player.store import tables as t
from player.store.deferred import (
    DEFAULT_MAX_PLAYS,
    DEFAULT_RETRY_INTERVAL_S,
    DeferredPlay,
    DeferredWrites,
    StartedEntry,
    is_disk_full,
    started_kwargs,
)
from player.store.read_only import (
    BUSY_TIMEOUT_MS,
    KEY_CURSOR,
    KEY_DEVICE,
    KEY_LAST_SYNC_AT,
    KEY_PLAYS_DROPPED,
    SCHEMA_HEAD,
    StoreCounts,
    connect_read_only,
    current_revisions,
    device_from_json,
    from_micros,
    prepare_read_only,
    read_counts,
    read_device_state,
    read_local_plays,
    read_quarantined_files,
    schema_problem,
    to_micros,
    unreadable,
)

if TYPE_CHECKING:
    from alembic.config import Config

# Re-exported: callers import these from here.
__all__ = [
    "KEY_CURSOR", "KEY_DEVICE", "KEY_LAST_SYNC_AT", "KEY_PLAYS_DROPPED", "ApplyResult",
    "PlayerStore", "StoreCounts", "connect_read_only",
]

log = logging.getLogger(__name__)

DEFAULT_OUTBOX_MAX_ROWS = 50_000
_FLUSH_PLAYS_PER_CALL = 50  # a write-back from the playback thread stays short
_BUSY_TIMEOUT_MS = BUSY_TIMEOUT_MS
_SQL_CHUNK = 500

KEY_SYNC_INTERVAL_S = "sync_interval_s"
KEY_LAST_ASSET_ID = "rotation.last_asset_id"
KEY_LAST_ASSET_AT = "rotation.last_asset_started_at"
KEY_LAST_STARTED = "rotation.last_started"  # mark_started's item, for record_play
KEY_REVISION = "catalogue.revision"
# The items started and not yet recorded (mark_started .. record_play), so a
# power cut in between is recorded as a skipped play at the next start.
KEY_IN_PROGRESS = "playback.in_progress"
_IN_PROGRESS_MAX = 4  # two sound at once at most (a hand-over); more is stale
_EDGE_CACHE_DAYS = 16


@dataclass
class _ScheduleCache:
    """Parsed schedules for one catalogue revision, and their edges per local day."""

    revision: str | None
    tz: ZoneInfo
    schedules: list[Schedule]
    ordered: list[Schedule]
    edges_by_day: dict[date, list[datetime]]


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply_manifest`` changed (removed includes garbage-collected rows)."""

    full: bool
    cursor: str
    assets_upserted: int
    assets_removed: int
    playlists_upserted: int
    playlists_removed: int
    schedules_upserted: int
    schedules_removed: int


# Hot queries, written out so the join order is explicit (SQLite takes CROSS
# JOIN as "in this order") and each one walks an index and stops at LIMIT 1.
_PLAYABLE = """
    f.present = 1
    AND (a.valid_from IS NULL OR a.valid_from <= :at)
    AND (a.valid_until IS NULL OR a.valid_until > :at)
    AND (f.quarantined_until IS NULL OR f.quarantined_until <= :at)
"""
_ITEM_COLUMNS = """
    pi.position AS position, pi.duration_ms AS item_duration_ms,
    a.id AS id, a.sha256 AS sha256, a.size_bytes AS size_bytes,
    a.media_type AS media_type, a.content_type AS content_type, a.title AS title,
    a.duration_ms AS duration_ms, a.valid_from AS valid_from,
    a.valid_until AS valid_until, a.emergency AS emergency, a.url AS url
"""
SQL_NEXT_ITEMS = text(f"""
SELECT {_ITEM_COLUMNS}, pi.last_played_at AS last_played_at
FROM playlist_items AS pi INDEXED BY ix_playlist_items_rotation
CROSS JOIN assets AS a
CROSS JOIN files AS f
WHERE pi.playlist_id = :playlist_id
  AND a.id = pi.asset_id AND f.sha256 = a.sha256
  AND {_PLAYABLE}
ORDER BY pi.last_played_at, pi.position
LIMIT :limit
""")  # noqa: S608
SQL_EMERGENCY = text(f"""
SELECT a.id
FROM assets AS a
CROSS JOIN files AS f
WHERE a.emergency = 1 AND f.sha256 = a.sha256
  AND {_PLAYABLE}
ORDER BY a.id
""")  # noqa: S608
SQL_ITEM_DIAGNOSIS = text("""
SELECT pi.position AS position, pi.asset_id AS item_asset_id, a.id AS asset_id,
       f.sha256 AS file_sha256
FROM playlist_items AS pi
LEFT JOIN assets AS a ON a.id = pi.asset_id
LEFT JOIN files AS f ON f.sha256 = a.sha256
WHERE pi.playlist_id = :playlist_id
ORDER BY pi.position
LIMIT :limit
""")
SQL_NEXT_EDGE = text("""
SELECT min(edge) FROM (
  SELECT min(valid_from) AS edge FROM assets WHERE valid_from > :at
  UNION ALL SELECT min(valid_until) FROM assets WHERE valid_until > :at
  UNION ALL SELECT min(quarantined_until) FROM files WHERE quarantined_until > :at
)
""")


def _migrations_config(connection: Connection) -> Config:
    # alembic is imported only to migrate: the read commands start without it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "player.store:migrations")
    config.attributes["connection"] = connection
    return config


class PlayerStore:
    """The player's local database. Build with ``PlayerStore.open``; ``close()`` when done."""

    def __init__(
        self,
        engine: Engine,
        outbox_max_rows: int,
        *,
        deferred: DeferredWrites | None = None,
        db_path: Path | None = None,
        stand_in_keeper: sqlite3.Connection | None = None,
    ) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(lomuz_write=True)
        self._outbox_max_rows = outbox_max_rows
        self._cache_lock = threading.Lock()
        self._cache: _ScheduleCache | None = None
        self._db_path = db_path
        self._deferred = deferred or DeferredWrites(db_path)
        self._flush_lock = threading.Lock()
        self._reattach_lock = threading.Lock()
        # Set while an in-memory stand-in replaces a file that could not be opened:
        # it keeps the memory database alive; writes are refused (kept) meanwhile.
        self._stand_in_keeper = stand_in_keeper

    # --- lifecycle ---------------------------------------------------------

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
        """Open (creating if needed) and migrate the database at ``db_path``.

        A current schema is only read, never written. When the filesystem is
        full, an existing current database opens anyway (see the module
        docstring); one that cannot be created or migrated raises ``StoreFull``,
        or with ``memory_if_full`` gives an empty in-memory stand-in that
        switches to the file as soon as a retried write can open it.
        ``max_deferred_plays`` bounds the plays kept in memory meanwhile;
        ``retry_interval_s`` is the least time between two write-back attempts.
        """
        if outbox_max_rows < 1:
            raise ValueError(f"outbox_max_rows must be >= 1, got {outbox_max_rows}")
        deferred = DeferredWrites(
            db_path, max_plays=max_deferred_plays, retry_interval_s=retry_interval_s
        )
        try:
            return cls._open_file(db_path, outbox_max_rows, deferred)
        except StoreFull as exc:
            if not memory_if_full:
                raise
            log.warning(
                "store: cannot open %s (%s): playing from an empty in-memory stand-in "
                "(the built-in jingle) until it can be opened; plays wait in memory",
                db_path, exc,
            )
            return cls._open_stand_in(db_path, outbox_max_rows, deferred)

    @classmethod
    def _open_file(
        cls, db_path: Path, outbox_max_rows: int, deferred: DeferredWrites
    ) -> PlayerStore:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise deferred.went_full(exc) from exc
            raise StoreError(f"cannot create {db_path.parent}: {exc}") from exc
        store = cls(_file_engine(db_path, exclusive=False), outbox_max_rows,
                    deferred=deferred, db_path=db_path)
        try:
            store._migrate_if_needed()
            return store
        except StoreFull:
            store._engine.dispose()
            if not _has_content(db_path):
                raise
        except BaseException:
            store._engine.dispose()
            raise
        # No room for the -shm: in exclusive locking mode SQLite keeps the WAL
        # index in heap memory. One connection, so other processes cannot read
        # until this one closes; only a full filesystem gets here.
        store = cls(_file_engine(db_path, exclusive=True), outbox_max_rows,
                    deferred=deferred, db_path=db_path)
        try:
            store._migrate_if_needed()
        except BaseException:
            store._engine.dispose()
            raise
        log.warning(
            "store: %s opened in exclusive mode (no room for its -shm): read commands "
            "(status, next, plays) cannot read it until the player restarts", db_path,
        )
        return store

    @classmethod
    def _open_stand_in(
        cls, db_path: Path, outbox_max_rows: int, deferred: DeferredWrites
    ) -> PlayerStore:
        name = f"file:lomuz-stand-in-{uuid.uuid4().hex}?mode=memory&cache=shared"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(name, uri=True, check_same_thread=False)

        keeper = connect()
        engine = create_engine("sqlite+pysqlite://", creator=connect)
        event.listen(engine, "connect", _on_connect_stand_in)
        event.listen(engine, "begin", _on_begin)
        store = cls(engine, outbox_max_rows, deferred=deferred, db_path=db_path,
                    stand_in_keeper=keeper)
        try:
            with store._write(schema=True) as conn:
                _upgrade_to_head(conn)
        except BaseException:
            engine.dispose()
            keeper.close()
            raise
        return store

    def _migrate_if_needed(self) -> None:
        """Upgrade to head, but only when there is something to do (no write otherwise)."""
        with self._read() as conn:
            if _current_revisions(conn) == {SCHEMA_HEAD}:
                return
        with self._write(schema=True) as conn:
            _upgrade_to_head(conn)

    @property
    def stand_in(self) -> bool:
        """True while an empty in-memory database stands in for the file."""
        return self._stand_in_keeper is not None

    def _reattach(self) -> None:
        """Replace the in-memory stand-in with the file once it can be opened."""
        with self._reattach_lock:
            if self._stand_in_keeper is None:
                return
            if not self._deferred.retry_due():
                raise self._deferred.still_full()
            assert self._db_path is not None
            real = type(self)._open_file(self._db_path, self._outbox_max_rows, self._deferred)
            old_engine, keeper = self._engine, self._stand_in_keeper
            self._engine, self._write_engine = real._engine, real._write_engine
            self._stand_in_keeper = None
            with self._cache_lock:
                self._cache = None
            old_engine.dispose()
            keeper.close()
            log.info("store: %s is open: the in-memory stand-in is retired", self._db_path)

    @classmethod
    def open_read_only(
        cls, db_path: Path, *, outbox_max_rows: int = DEFAULT_OUTBOX_MAX_ROWS
    ) -> PlayerStore | None:
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
        event.listen(engine, "connect", _on_connect_read_only)
        event.listen(engine, "begin", _on_begin)
        store = cls(engine, outbox_max_rows)
        try:
            with store._read() as conn:
                _check_schema_readable(conn, db_path)
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Write back what was kept (one last try), say what is lost, close."""
        if self._deferred.has_work():
            self.flush_deferred(force=True)
            lost = self._deferred.lost_at_close()
            if lost:
                log.error(
                    "store: %d plays could not be written (the filesystem is full) and are "
                    "lost with this process", lost,
                )
        self._engine.dispose()
        if self._stand_in_keeper is not None:
            self._stand_in_keeper.close()

    def __enter__(self) -> PlayerStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_outbox_max_rows(self, max_rows: int) -> None:
        if max_rows < 1:
            raise ValueError(f"outbox_max_rows must be >= 1, got {max_rows}")
        self._outbox_max_rows = max_rows

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            if is_disk_full(exc):  # no room for the -shm
                raise self._deferred.went_full(exc) from exc
            raise StoreError(f"database read failed: {exc}") from exc

    @contextmanager
    def _write(self, *, schema: bool = False) -> Iterator[Connection]:
        if self._stand_in_keeper is not None and not schema:
            self._reattach()
        try:
            with self._write_engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            if is_disk_full(exc):
                raise self._deferred.went_full(exc) from exc
            raise StoreError(f"database write failed: {exc}") from exc
        if self._stand_in_keeper is None:  # the stand-in's writes prove nothing about space
            self._deferred.wrote()

    def _write_or_keep(self, write: Callable[[], None], keep: Callable[[], None]) -> None:
        """Write now; when the filesystem is full (or things wait already), keep it."""
        if self._deferred.idle():
            try:
                write()
            except StoreFull:
                keep()
            return
        keep()
        self.flush_deferred(max_plays=_FLUSH_PLAYS_PER_CALL)

    def flush_deferred(self, *, max_plays: int | None = None, force: bool = False) -> bool:
        """Write back what a full filesystem made us keep; True when nothing waits.

        Tried at most every ``retry_interval_s`` (unless ``force``), never by two
        threads at once (the second returns at once), oldest first, with the
        original instants; ``max_plays`` bounds one call's work.
        """
        if not self._deferred.has_work():
            return True
        if not force and not self._deferred.retry_due():
            return False
        if not self._flush_lock.acquire(blocking=False):
            return False
        try:
            started, state, plays, overflowed = self._deferred.peek(
                max_plays if max_plays is not None else self._deferred.max_plays
            )
            try:
                with self._write() as conn:
                    self._write_back(conn, started, state, plays, overflowed)
            except StoreFull:
                return False
            except StoreError as exc:  # locked, I/O: kept, retried later
                self._deferred.failed_otherwise()
                log.warning("store: cannot write back kept plays and state yet: %s", exc)
                return False
            self._deferred.written(started, state, plays, overflowed)  # committed
            self._deferred.wrote()  # with nothing left, the episode is over
            return not self._deferred.has_work()
        finally:
            self._flush_lock.release()

    def _write_back(
        self, conn: Connection, started: list[StartedEntry], state: dict[str, str],
        plays: list[DeferredPlay], overflowed: int,
    ) -> None:
        for entry in started:
            _mark_started(conn, **started_kwargs(entry))
        if started:
            last = started[-1]
            _set_state(conn, KEY_LAST_STARTED, json.dumps(
                [last.playlist_id, last.position, last.asset_id, to_micros(last.started_at)]
            ))
        for key, value in state.items():
            _set_state(conn, key, value)
        for item in plays:
            _insert_play(conn, item.play, item.position)
        if overflowed:
            dropped = int(_get_state(conn, KEY_PLAYS_DROPPED) or "0") + overflowed
            _set_state(conn, KEY_PLAYS_DROPPED, str(dropped))
        if plays:
            self._bound_outbox(conn)

    # --- small state -------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        """The stored value, or the newer one kept in memory while the disk is full."""
        kept = self._deferred.state(key)
        if kept is not None:
            return kept
        with self._read() as conn:
            return _get_state(conn, key)

    def set_state(self, key: str, value: str) -> None:
        """Store a small state value; kept in memory (and retried) when the disk is full."""
        def write() -> None:
            with self._write() as conn:
                _set_state(conn, key, value)

        self._write_or_keep(write, lambda: self._deferred.keep_state(key, value))

    def cursor(self) -> str | None:
        return self.get_state(KEY_CURSOR)

    def device(self) -> DeviceInfo | None:
        raw = self.get_state(KEY_DEVICE)
        return None if raw is None else device_from_json(raw)

    def device_state(self) -> DeviceState:
        """The device state, typed (``read_device_state``: the one reader of its keys)."""
        return read_device_state(self.get_state)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: "ok" when the file is sound."""
        with self._read() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").all()
        return "\n".join(str(row[0]) for row in rows)

    # --- manifest ----------------------------------------------------------

    def apply_manifest(
        self, manifest: Manifest, *, synced_at: datetime | None = None
    ) -> ApplyResult:
        """Apply a full or delta manifest in one transaction, then garbage-collect.

        Raises ``ManifestError`` (and changes nothing) when a playlist item or a
        schedule would refer to something absent after applying.
        """
        _validate_manifest(manifest)
        self.flush_deferred()
        with self._write() as conn:
            before = _id_sets(conn)
            if manifest.full:
                conn.execute(delete(t.schedules))
                conn.execute(delete(t.playlist_items))
                conn.execute(delete(t.playlists))
                conn.execute(delete(t.assets))
            else:
                _delete_ids(conn, t.schedules.c.id, manifest.deleted.schedules)
                _delete_ids(conn, t.playlists.c.id, manifest.deleted.playlists)
                _delete_ids(conn, t.assets.c.id, manifest.deleted.assets)
            _upsert_assets(conn, manifest.assets)
            _upsert_playlists(conn, manifest.playlists)
            _restore_item_rotation(conn, [p.id for p in manifest.playlists])
            _upsert_schedules(conn, manifest.schedules)
            _collect_garbage(conn)
            _check_references(conn)
            after = _id_sets(conn)
            _set_state(conn, KEY_CURSOR, manifest.cursor)
            revision = int(_get_state(conn, KEY_REVISION) or "0") + 1
            _set_state(conn, KEY_REVISION, str(revision))
            _set_state(conn, KEY_DEVICE, _device_to_json(manifest.device))
            _set_state(conn, KEY_SYNC_INTERVAL_S, str(manifest.sync_interval_s))
            last_sync = synced_at if synced_at is not None else manifest.server_time
            _set_state(conn, KEY_LAST_SYNC_AT, last_sync.isoformat())
        return ApplyResult(
            full=manifest.full,
            cursor=manifest.cursor,
            assets_upserted=len(manifest.assets),
            assets_removed=len(before[0] - after[0]),
            playlists_upserted=len(manifest.playlists),
            playlists_removed=len(before[1] - after[1]),
            schedules_upserted=len(manifest.schedules),
            schedules_removed=len(before[2] - after[2]),
        )

    # --- decisions ---------------------------------------------------------

    def decide(
        self,
        at: datetime,
        fallback: Tier = Tier.JINGLE,
        choice: Callable[[Sequence[str]], str] | None = None,
    ) -> Decision:
        """What plays at ``at`` and why; agrees with ``lomuz_rules.schedule.decide``."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"instant must be timezone-aware, got {at!r}")
        if fallback not in (Tier.JINGLE, Tier.SILENCE):
            raise ValueError(f"fallback must be jingle or silence, got {fallback}")
        at_us = to_micros(at)
        overlay = {} if self._deferred.idle() else self._deferred.rotation_overlay()
        with self._read() as conn:
            cache = self._schedules(conn)
            tz, schedules = cache.tz, cache.schedules
            edge_us = conn.execute(SQL_NEXT_EDGE, {"at": at_us}).scalar()
            boundary = rules.earliest_after(
                at,
                [
                    self._next_schedule_edge(cache, at),
                    from_micros(edge_us) if edge_us is not None else None,
                ],
            )
            reasons: list[str] = []
            for schedule in cache.ordered:
                rejection = rules.schedule_rejection(schedule, at, tz)
                if rejection is not None:
                    reasons.append(rules.schedule_line(schedule, rejection))
                    continue
                params = {"playlist_id": schedule.playlist_id, "at": at_us}
                kept = {
                    position: start for (playlist_id, position), start in overlay.items()
                    if playlist_id == schedule.playlist_id
                }
                rows = conn.execute(SQL_NEXT_ITEMS, {**params, "limit": len(kept) + 1})
                row, last = _least_recent(rows.all(), kept)
                if row is None:
                    reasons.extend(_diagnose_playlist(conn, schedule, at))
                    continue
                asset = _asset_from_row(row)
                return rules.playlist_decision(
                    at, schedule, row.position, asset,
                    item=PlaylistItem(asset.id, row.item_duration_ms), last_played_at=last,
                    reasons=reasons, boundary=boundary,
                )
            if not schedules:
                reasons.append("no schedules")
            candidates = list(conn.execute(SQL_EMERGENCY, {"at": at_us}).scalars())
            last_asset_id = _get_state(conn, KEY_LAST_ASSET_ID)
            kept_last = None if self._deferred.idle() else self._deferred.last_asset()
            if kept_last is not None:
                stored_at = _get_state(conn, KEY_LAST_ASSET_AT)
                if stored_at is None or int(stored_at) <= to_micros(kept_last[1]):
                    last_asset_id = kept_last[0]

            def get_asset(asset_id: str) -> Asset | None:
                found = conn.execute(select(t.assets).where(t.assets.c.id == asset_id)).first()
                return None if found is None else _asset_from_row(found)

            return rules.fallback_decision(
                at,
                emergency_candidates=candidates,
                get_asset=get_asset,
                last_asset_id=last_asset_id,
                fallback=fallback,
                choice=choice or rules.default_choice,
                reasons=reasons,
                boundary=boundary,
            )

    def _schedules(self, conn: Connection) -> _ScheduleCache:
        # Schedules are few and change only with a manifest: parse them once
        # per catalogue revision (stored in the database, so a manifest applied
        # by another process is seen too).
        revision = _get_state(conn, KEY_REVISION)
        with self._cache_lock:
            cache = self._cache
        if cache is not None and cache.revision == revision:
            return cache
        device_raw = _get_state(conn, KEY_DEVICE)
        schedules = _load_schedules(conn)
        cache = _ScheduleCache(
            revision=revision,
            tz=ZoneInfo(device_from_json(device_raw).timezone if device_raw else "UTC"),
            schedules=schedules,
            ordered=rules.order_schedules(schedules),
            edges_by_day={},
        )
        with self._cache_lock:
            self._cache = cache
        return cache

    def _next_schedule_edge(self, cache: _ScheduleCache, at: datetime) -> datetime | None:
        today = at.astimezone(cache.tz).date()
        with self._cache_lock:
            edges = cache.edges_by_day.get(today)
        if edges is None:
            edges = rules.daily_edges(cache.schedules, cache.tz, today)
            with self._cache_lock:
                if len(cache.edges_by_day) >= _EDGE_CACHE_DAYS:
                    cache.edges_by_day.clear()
                cache.edges_by_day[today] = edges
        index = bisect.bisect_right(edges, at)
        return edges[index] if index < len(edges) else None

    # --- plays and rotation -----------------------------------------------

    def mark_started(
        self,
        *,
        asset_id: str,
        sha256: str,
        source: Tier,
        started_at: datetime,
        playlist_id: str | None = None,
        playlist_position: int | None = None,
        play_id: str | None = None,
        planned_end_at: datetime | None = None,
        schedule_id: str | None = None,
    ) -> None:
        """An item started: advance rotation and the last-asset state, in one transaction.

        With ``play_id`` and ``planned_end_at`` the same transaction remembers
        the item as in progress until ``record_play`` stores that play id; see
        ``recover_interrupted_plays``.

        The proof of play is written later by ``record_play`` at the item's real
        end; it advances the same state to the same ``started_at``, so calling
        both changes nothing more than either. Idempotent. A crash between the
        two leaves rotation advanced and no outbox row: the item is not played
        again at once, and no play is claimed whose end nobody saw.
        """
        if started_at.tzinfo is None or started_at.utcoffset() is None:
            raise ValueError(f"started_at must be timezone-aware, got {started_at!r}")

        def write() -> None:
            with self._write() as conn:
                _mark_started(
                    conn, asset_id=asset_id, sha256=sha256, source=source,
                    started_at=started_at, playlist_id=playlist_id, position=playlist_position,
                )
                started = [playlist_id, playlist_position, asset_id, to_micros(started_at)]
                _set_state(conn, KEY_LAST_STARTED, json.dumps(started))
                if play_id is not None and planned_end_at is not None:
                    _add_in_progress(conn, {
                        "id": play_id, "asset_id": asset_id, "sha256": sha256,
                        "source": source.value, "schedule_id": schedule_id,
                        "playlist_id": playlist_id, "position": playlist_position,
                        "started_us": to_micros(started_at),
                        "planned_end_us": to_micros(max(planned_end_at, started_at)),
                    })

        entry = StartedEntry(asset_id, sha256, source, started_at, playlist_id,
                             playlist_position)
        self._write_or_keep(write, lambda: self._deferred.keep_started(entry))

    def mark_alive(self, at: datetime) -> None:
        """The items in progress still played at ``at``: the best end a power cut leaves.

        One small write; the playback loop calls it at most every minute or
        so. Nothing is written when no item is in progress or while the
        filesystem is full (the start instant then stands).
        """
        if not self._deferred.idle() or self.stand_in:
            return
        with self._read() as conn:
            if _get_state(conn, KEY_IN_PROGRESS) is None:
                return
        try:
            with self._write() as conn:
                entries = _in_progress(conn)
                for entry in entries:
                    entry["alive_us"] = max(int(entry.get("alive_us") or 0), to_micros(at))
                if entries:
                    _set_state(conn, KEY_IN_PROGRESS, json.dumps(entries))
        except StoreFull:
            return

    def recover_interrupted_plays(self, known_alive_at: datetime | None = None) -> list[Play]:
        """Record the items a power cut interrupted as ``skipped`` plays; return them.

        Call once at start, before playback. Each play keeps the id the item
        had, so it is stored (and uploaded) exactly once however often this
        runs. Its ``ended_at`` is the last instant the item is known to have
        played: the latest of the persisted "still playing" instant
        (``mark_alive``) and ``known_alive_at`` (e.g. the clock's persisted
        lower bound, an instant the box was alive), never before
        ``started_at`` and never after the item's planned end. Reads only
        when nothing was in progress.
        """
        with self._read() as conn:
            if _get_state(conn, KEY_IN_PROGRESS) is None:
                return []
        plays: list[Play] = []
        with self._write() as conn:
            for entry in _in_progress(conn):
                try:
                    play = _interrupted_play(entry, known_alive_at)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("store: dropping an unreadable in-progress record %r: %s",
                                entry, exc)
                    continue
                position = entry.get("position")
                _insert_play(conn, play, position if isinstance(position, int) else None)
                plays.append(play)
            conn.execute(delete(t.state).where(t.state.c.key == KEY_IN_PROGRESS))
            if plays:
                self._bound_outbox(conn)
        return plays

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
            with self._write() as conn:
                _insert_play(conn, play, playlist_position)
                self._bound_outbox(conn)

        self._write_or_keep(write, lambda: self._deferred.keep_play(play, playlist_position))

    def _bound_outbox(self, conn: Connection) -> None:
        total = conn.execute(select(func.count()).select_from(t.plays)).scalar_one()
        excess = total - self._outbox_max_rows
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
                dropped = int(_get_state(conn, KEY_PLAYS_DROPPED) or "0") + removed
                _set_state(conn, KEY_PLAYS_DROPPED, str(dropped))
            if excess <= 0:
                return

    def pending_plays(self, limit: int) -> list[Play]:
        """Plays not yet uploaded, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.plays).where(t.plays.c.uploaded.is_(False)).order_by(t.plays.c.seq)
                .limit(limit)
            ).all()
        return [_play_from_row(row) for row in rows]

    def mark_plays_uploaded(self, play_ids: Sequence[str]) -> None:
        with self._write() as conn:
            for chunk in _chunks(play_ids):
                conn.execute(
                    update(t.plays).where(t.plays.c.id.in_(chunk)).values(uploaded=True)
                )

    def local_plays(self, limit: int | None = None) -> list[tuple[Play, bool]]:
        """The local proof-of-play log, newest last, with the uploaded flag."""
        with self._read() as conn:
            return read_local_plays(_dbapi(conn), limit)

    def dropped_plays_count(self) -> int:
        """Plays lost to the outbox bound, or to the in-memory bound of a full disk."""
        return int(self.get_state(KEY_PLAYS_DROPPED) or "0") + self._deferred.overflowed()

    def plays_recorded_count(self) -> int:
        """Plays ever recorded in this store: only goes up (the metrics' plays counter).

        ``plays.seq`` is SQLite's rowid (INTEGER PRIMARY KEY without
        AUTOINCREMENT), so a new row gets max(seq) + 1. Nothing deletes the
        newest row: ``_bound_outbox`` removes the oldest ones and keeps
        ``outbox_max_rows`` >= 1, and uploading only flags rows. Hence
        max(seq) is the number of plays ever inserted (duplicates are not
        inserted). One index probe, whatever the outbox size.
        """
        with self._read() as conn:
            return int(conn.execute(select(func.max(t.plays.c.seq))).scalar_one() or 0)

    # --- file index --------------------------------------------------------

    def mark_file_verified(self, sha256: str, size_bytes: int, at: datetime) -> None:
        """The file with this hash is in the cache, size and hash checked."""
        _check_sha256(sha256)
        with self._write() as conn:
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
        with self._write() as conn:
            conn.execute(
                update(t.files).where(t.files.c.sha256 == sha256)
                .values(present=False, verified_at=None)
            )

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        """Never play this file before ``until`` (it failed to play)."""
        _check_sha256(sha256)
        with self._write() as conn:
            size = conn.execute(
                select(t.assets.c.size_bytes).where(t.assets.c.sha256 == sha256).limit(1)
            ).scalar()
            stmt = sqlite_insert(t.files).values(
                sha256=sha256, size_bytes=size or 0, present=False,
                quarantined_until=until, quarantine_reason=reason,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.files.c.sha256],
                    set_={"quarantined_until": until, "quarantine_reason": reason},
                )
            )

    def quarantined_files(self, at: datetime) -> list[FileState]:
        with self._read() as conn:
            return read_quarantined_files(_dbapi(conn), at)

    def file_states(self) -> list[FileState]:
        with self._read() as conn:
            rows = conn.execute(select(t.files).order_by(t.files.c.sha256)).all()
        return [_file_from_row(row) for row in rows]

    def referenced_files(self) -> list[FileNeed]:
        """Every file the catalogue references, one entry per sha256."""
        query = (
            select(
                t.assets.c.sha256, t.assets.c.size_bytes, t.assets.c.url, t.assets.c.id,
                t.assets.c.emergency, t.files.c.present,
            )
            .select_from(t.assets.outerjoin(t.files, t.files.c.sha256 == t.assets.c.sha256))
            .order_by(t.assets.c.sha256, t.assets.c.id)
        )
        needs: list[FileNeed] = []
        with self._read() as conn:
            for row in conn.execute(query):
                if needs and needs[-1].sha256 == row.sha256:
                    prev = needs[-1]
                    needs[-1] = FileNeed(
                        sha256=prev.sha256, size_bytes=prev.size_bytes, url=prev.url,
                        asset_ids=(*prev.asset_ids, row.id), present=prev.present,
                        emergency=prev.emergency or bool(row.emergency),
                    )
                else:
                    needs.append(FileNeed(
                        sha256=row.sha256, size_bytes=row.size_bytes, url=row.url,
                        asset_ids=(row.id,), present=bool(row.present),
                        emergency=bool(row.emergency),
                    ))
        return needs

    # --- read helpers ------------------------------------------------------

    def counts(self, at: datetime | None = None) -> StoreCounts:
        """Row counts for status; ``quarantined`` counts holds still active at ``at``.

        The queries are ``read_only.read_counts`` (what ``status`` runs without
        SQLAlchemy), plus what is kept in memory while the disk is full.
        """
        kept, overflowed = self._deferred.plays_count(), self._deferred.overflowed()
        with self._read() as conn:
            stored = read_counts(_dbapi(conn), at)
        return replace(
            stored,
            outbox_pending=stored.outbox_pending + kept,
            outbox_total=stored.outbox_total + kept,
            plays_dropped=stored.plays_dropped + overflowed,
            plays_in_memory=kept,
        )

    def all_assets(self) -> list[Asset]:
        with self._read() as conn:
            return _load_assets(conn)

    def all_playlists(self) -> list[Playlist]:
        with self._read() as conn:
            return _load_playlists(conn)

    def all_schedules(self) -> list[Schedule]:
        with self._read() as conn:
            return _load_schedules(conn)

    def snapshot(self) -> Catalogue:
        """Everything ``lomuz_rules.schedule.decide`` consumes, read consistently."""
        with self._read() as conn:
            device_raw = _get_state(conn, KEY_DEVICE)
            rotation = {
                (row.playlist_id, row.position, row.asset_id): row.last_played_at
                for row in conn.execute(select(t.rotation))
            }
            return rules.Catalogue(
                timezone=device_from_json(device_raw).timezone if device_raw else "UTC",
                assets={a.id: a for a in _load_assets(conn)},
                playlists={p.id: p for p in _load_playlists(conn)},
                schedules=tuple(_load_schedules(conn)),
                files={
                    row.sha256: _file_from_row(row) for row in conn.execute(select(t.files))
                },
                rotation=rotation,
                last_asset_id=_get_state(conn, KEY_LAST_ASSET_ID),
            )


Catalogue = rules.Catalogue


# --- connection setup ------------------------------------------------------


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Driver autocommit: transactions are begun explicitly in _on_begin, which
    # is SQLAlchemy's documented recipe for BEGIN IMMEDIATE with pysqlite.
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_connect_exclusive(dbapi_connection: Any, record: Any) -> None:
    # Before the first WAL access: SQLite then keeps the WAL index in heap
    # memory and never needs the -shm file (which a full disk cannot grow).
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.execute("PRAGMA locking_mode=EXCLUSIVE")
    _on_connect(dbapi_connection, record)


def _on_connect_stand_in(dbapi_connection: Any, _record: Any) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _file_engine(db_path: Path, *, exclusive: bool) -> Engine:
    connect_args = {"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000}
    if exclusive:  # one connection: a second one would be locked out by the first
        engine = create_engine(
            f"sqlite+pysqlite:///{db_path}", connect_args=connect_args,
            poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=60,
        )
        event.listen(engine, "connect", _on_connect_exclusive)
    else:
        engine = create_engine(f"sqlite+pysqlite:///{db_path}", connect_args=connect_args)
        event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _has_content(db_path: Path) -> bool:
    try:
        return db_path.stat().st_size > 0
    except OSError:
        return False


def _current_revisions(conn: Connection) -> set[str]:
    has_table = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).scalar_one()
    if not has_table:
        return set()
    return set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def _upgrade_to_head(conn: Connection) -> None:
    from alembic import command

    command.upgrade(_migrations_config(conn), "head")


def _dbapi(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``conn``, inside ``conn``'s transaction."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def _on_connect_read_only(dbapi_connection: Any, _record: Any) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    prepare_read_only(dbapi_connection)


def _check_schema_readable(conn: Connection, db_path: Path) -> None:
    """StoreError unless the database is at this player's migration head."""
    problem = schema_problem(current_revisions(_dbapi(conn)), db_path)
    if problem is not None:
        raise StoreError(problem)


def _on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("lomuz_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


# --- helpers ---------------------------------------------------------------


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _SQL_CHUNK):
        yield values[start : start + _SQL_CHUNK]


def _check_sha256(sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")


def _get_state(conn: Connection, key: str) -> str | None:
    return conn.execute(select(t.state.c.value).where(t.state.c.key == key)).scalar()


def _set_state(conn: Connection, key: str, value: str) -> None:
    stmt = sqlite_insert(t.state).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.state.c.key], set_={"value": value}))


def _device_to_json(device: DeviceInfo) -> str:
    return json.dumps(
        {"id": device.id, "name": device.name, "timezone": device.timezone,
         "groups": list(device.groups)}
    )


def _duplicates(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for item_id in ids:
        if item_id in seen:
            dups.append(item_id)
        seen.add(item_id)
    return dups


def _validate_manifest(manifest: Manifest) -> None:
    """Checks the store relies on; wire.py validates the JSON shape first."""
    for name, ids in (
        ("assets", [a.id for a in manifest.assets]),
        ("playlists", [p.id for p in manifest.playlists]),
        ("schedules", [s.id for s in manifest.schedules]),
    ):
        dups = _duplicates(ids)
        if dups:
            raise ManifestError(f"duplicate id {dups[0]!r}", path=name)
    try:
        ZoneInfo(manifest.device.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ManifestError(
            f"unknown time zone {manifest.device.timezone!r}", path="device.timezone"
        ) from exc
    for index, asset in enumerate(manifest.assets):
        try:
            _check_sha256(asset.sha256)
        except ValueError as exc:
            raise ManifestError(str(exc), path=f"assets[{index}].sha256") from exc
    for index, sched in enumerate(manifest.schedules):
        path = f"schedules[{index}]"
        if not 0 <= sched.start_minute < MINUTES_PER_DAY:
            raise ManifestError(f"start_minute {sched.start_minute} out of range", path=path)
        if not 0 <= sched.end_minute <= MINUTES_PER_DAY:
            raise ManifestError(f"end_minute {sched.end_minute} out of range", path=path)
        if not sched.days <= set(range(1, 8)):
            raise ManifestError(f"days {sorted(sched.days)} not ISO weekdays 1..7", path=path)
        if sched.created_at.tzinfo is None:
            raise ManifestError("created_at is not timezone-aware", path=path)


def _id_sets(conn: Connection) -> tuple[set[str], set[str], set[str]]:
    return (
        set(conn.execute(select(t.assets.c.id)).scalars()),
        set(conn.execute(select(t.playlists.c.id)).scalars()),
        set(conn.execute(select(t.schedules.c.id)).scalars()),
    )


def _delete_ids(conn: Connection, column: Any, ids: Sequence[str]) -> None:
    for chunk in _chunks(ids):
        conn.execute(delete(column.table).where(column.in_(chunk)))


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = sqlite_insert(table)
    key = list(table.primary_key.columns)
    set_ = {c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key}
    conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=set_), rows)


def _upsert_assets(conn: Connection, assets: Sequence[Asset]) -> None:
    _upsert(conn, t.assets, [
        {
            "id": a.id, "sha256": a.sha256, "size_bytes": a.size_bytes,
            "media_type": a.media_type.value, "content_type": a.content_type, "title": a.title,
            "duration_ms": a.duration_ms, "valid_from": a.valid_from,
            "valid_until": a.valid_until, "emergency": a.emergency, "url": a.url,
        }
        for a in assets
    ])


def _upsert_playlists(conn: Connection, playlists: Sequence[Playlist]) -> None:
    _upsert(conn, t.playlists, [
        {"id": p.id, "name": p.name, "version": p.version} for p in playlists
    ])
    _delete_ids(conn, t.playlist_items.c.playlist_id, [p.id for p in playlists])
    items = [
        {"playlist_id": p.id, "position": pos, "asset_id": item.asset_id,
         "duration_ms": item.duration_ms}
        for p in playlists
        for pos, item in enumerate(p.items)
    ]
    if items:
        conn.execute(t.playlist_items.insert(), items)


def _upsert_schedules(conn: Connection, schedules: Sequence[Schedule]) -> None:
    _upsert(conn, t.schedules, [
        {
            "id": s.id, "playlist_id": s.playlist_id, "target": s.target.value,
            "priority": s.priority, "days": ",".join(str(d) for d in sorted(s.days)),
            "start_minute": s.start_minute, "end_minute": s.end_minute,
            "valid_from": s.valid_from, "valid_until": s.valid_until,
            "created_at": s.created_at, "version": s.version,
        }
        for s in schedules
    ])


def _restore_item_rotation(conn: Connection, playlist_ids: Sequence[str]) -> None:
    """Copy rotation onto freshly written items whose position kept its asset."""
    for chunk in _chunks(playlist_ids):
        conn.execute(
            text(
                "UPDATE playlist_items SET last_played_at = (SELECT r.last_played_at "
                "FROM rotation AS r WHERE r.playlist_id = playlist_items.playlist_id "
                "AND r.position = playlist_items.position "
                "AND r.asset_id = playlist_items.asset_id) "
                "WHERE playlist_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": list(chunk)},
        )


def _collect_garbage(conn: Connection) -> None:
    """A device's state is its schedules, their playlists and assets, and emergency assets."""
    conn.exec_driver_sql(
        "DELETE FROM playlists WHERE id NOT IN (SELECT playlist_id FROM schedules)"
    )
    conn.exec_driver_sql(
        "DELETE FROM assets WHERE emergency = 0 "
        "AND id NOT IN (SELECT asset_id FROM playlist_items)"
    )
    conn.exec_driver_sql(
        "DELETE FROM rotation WHERE NOT EXISTS (SELECT 1 FROM playlist_items AS pi "
        "WHERE pi.playlist_id = rotation.playlist_id AND pi.position = rotation.position "
        "AND pi.asset_id = rotation.asset_id)"
    )


def _check_references(conn: Connection) -> None:
    dangling_item = conn.exec_driver_sql(
        "SELECT pi.playlist_id, pi.position, pi.asset_id FROM playlist_items AS pi "
        "LEFT JOIN assets AS a ON a.id = pi.asset_id WHERE a.id IS NULL "
        "ORDER BY pi.playlist_id, pi.position LIMIT 1"
    ).first()
    if dangling_item is not None:
        playlist_id, position, asset_id = dangling_item
        raise ManifestError(
            f"playlist {playlist_id!r} item {position} refers to asset {asset_id!r}, "
            "which the device state does not contain",
            path="playlists",
        )
    dangling_schedule = conn.exec_driver_sql(
        "SELECT s.id, s.playlist_id FROM schedules AS s "
        "LEFT JOIN playlists AS p ON p.id = s.playlist_id WHERE p.id IS NULL "
        "ORDER BY s.id LIMIT 1"
    ).first()
    if dangling_schedule is not None:
        schedule_id, playlist_id = dangling_schedule
        raise ManifestError(
            f"schedule {schedule_id!r} refers to playlist {playlist_id!r}, "
            "which the device state does not contain",
            path="schedules",
        )


def _mark_started(
    conn: Connection,
    *,
    asset_id: str,
    sha256: str,
    source: Tier,
    started_at: datetime,
    playlist_id: str | None,
    position: int | None,
) -> None:
    """Rotation, the file's last play and the last-asset state, all to ``started_at``."""
    if source is Tier.PLAYLIST and playlist_id is not None:
        _advance_rotation(conn, playlist_id, asset_id, started_at, position)
    conn.execute(
        update(t.files)
        .where(t.files.c.sha256 == sha256)
        .where((t.files.c.last_played_at.is_(None)) | (t.files.c.last_played_at < started_at))
        .values(last_played_at=started_at)
    )
    last_at = _get_state(conn, KEY_LAST_ASSET_AT)
    if last_at is None or int(last_at) <= to_micros(started_at):
        _set_state(conn, KEY_LAST_ASSET_ID, asset_id)
        _set_state(conn, KEY_LAST_ASSET_AT, str(to_micros(started_at)))


def _started_position(conn: Connection, play: Play) -> int | None:
    """The position ``mark_started`` recorded for this very item, if it did."""
    raw = _get_state(conn, KEY_LAST_STARTED)
    if raw is None:
        return None
    playlist_id, position, asset_id, started_us = json.loads(raw)
    same = (playlist_id, asset_id, started_us) == (
        play.playlist_id, play.asset_id, to_micros(play.started_at)
    )
    return position if same and isinstance(position, int) else None


def _advance_rotation(
    conn: Connection, playlist_id: str, asset_id: str, started_at: datetime, position: int | None
) -> None:
    if position is None:
        position = conn.execute(
            text(
                "SELECT pi.position FROM playlist_items AS pi LEFT JOIN rotation AS r "
                "ON r.playlist_id = pi.playlist_id AND r.position = pi.position "
                "AND r.asset_id = pi.asset_id "
                "WHERE pi.playlist_id = :playlist_id AND pi.asset_id = :asset_id "
                "ORDER BY r.last_played_at IS NOT NULL, r.last_played_at, pi.position LIMIT 1"
            ),
            {"playlist_id": playlist_id, "asset_id": asset_id},
        ).scalar()
        if position is None:
            return  # the playlist changed since; nothing to rotate
    else:
        listed = conn.execute(
            select(t.playlist_items.c.asset_id).where(
                t.playlist_items.c.playlist_id == playlist_id,
                t.playlist_items.c.position == position,
            )
        ).scalar()
        if listed != asset_id:
            return
    current = conn.execute(
        select(t.rotation.c.asset_id, t.rotation.c.last_played_at).where(
            t.rotation.c.playlist_id == playlist_id, t.rotation.c.position == position
        )
    ).first()
    if (
        current is not None
        and current.asset_id == asset_id
        and current.last_played_at >= started_at
    ):
        return
    conn.execute(
        update(t.playlist_items)
        .where(
            t.playlist_items.c.playlist_id == playlist_id,
            t.playlist_items.c.position == position,
        )
        .values(last_played_at=started_at)
    )
    stmt = sqlite_insert(t.rotation).values(
        playlist_id=playlist_id, position=position, asset_id=asset_id,
        last_played_at=started_at,
    )
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[t.rotation.c.playlist_id, t.rotation.c.position],
        set_={"asset_id": asset_id, "last_played_at": started_at},
    ))


def _diagnose_playlist(conn: Connection, schedule: Schedule, at: datetime) -> list[str]:
    rows = conn.execute(
        SQL_ITEM_DIAGNOSIS,
        {"playlist_id": schedule.playlist_id, "limit": rules.MAX_ITEM_REASONS},
    ).all()
    if not rows:
        return [rules.schedule_line(schedule, f"playlist {schedule.playlist_id} is empty")]
    lines = [rules.schedule_line(schedule, f"no playable item in playlist {schedule.playlist_id}")]
    for row in rows:
        asset = None
        file = None
        if row.asset_id is not None:
            asset = _asset_from_row(
                conn.execute(select(t.assets).where(t.assets.c.id == row.asset_id)).one()
            )
        if row.file_sha256 is not None:
            file = _file_from_row(
                conn.execute(select(t.files).where(t.files.c.sha256 == row.file_sha256)).one()
            )
        problem = rules.item_problem(asset, file, at) or "playable"
        lines.append(rules.item_line(row.position, row.item_asset_id, problem))
    return lines


def _asset_from_row(row: Any) -> Asset:
    def instant(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return from_micros(int(value))

    return Asset(
        id=row.id, sha256=row.sha256, size_bytes=row.size_bytes,
        media_type=MediaType(row.media_type), content_type=row.content_type, title=row.title,
        duration_ms=row.duration_ms, valid_from=instant(row.valid_from),
        valid_until=instant(row.valid_until), emergency=bool(row.emergency), url=row.url,
    )


def _file_from_row(row: Any) -> FileState:
    return FileState(
        sha256=row.sha256, size_bytes=row.size_bytes, present=bool(row.present),
        verified_at=row.verified_at, quarantined_until=row.quarantined_until,
        quarantine_reason=row.quarantine_reason, last_played_at=row.last_played_at,
    )


def _schedule_from_row(row: Any) -> Schedule:
    return Schedule(
        id=row.id, playlist_id=row.playlist_id, target=TargetKind(row.target),
        priority=row.priority,
        days=frozenset(int(d) for d in row.days.split(",") if d),
        start_minute=row.start_minute, end_minute=row.end_minute,
        valid_from=row.valid_from, valid_until=row.valid_until,
        created_at=row.created_at, version=row.version,
    )


def _play_from_row(row: Any) -> Play:
    return Play(
        id=row.id, asset_id=row.asset_id, sha256=row.sha256, started_at=row.started_at,
        ended_at=row.ended_at, source=Tier(row.source), outcome=Outcome(row.outcome),
        schedule_id=row.schedule_id, playlist_id=row.playlist_id,
    )


def _load_assets(conn: Connection) -> list[Asset]:
    return [_asset_from_row(row) for row in conn.execute(select(t.assets).order_by(t.assets.c.id))]


def _load_playlists(conn: Connection) -> list[Playlist]:
    items: dict[str, list[PlaylistItem]] = {}
    for row in conn.execute(
        select(t.playlist_items).order_by(
            t.playlist_items.c.playlist_id, t.playlist_items.c.position
        )
    ):
        items.setdefault(row.playlist_id, []).append(PlaylistItem(row.asset_id, row.duration_ms))
    return [
        Playlist(id=row.id, name=row.name, items=tuple(items.get(row.id, ())), version=row.version)
        for row in conn.execute(select(t.playlists).order_by(t.playlists.c.id))
    ]


def _load_schedules(conn: Connection) -> list[Schedule]:
    return [
        _schedule_from_row(row)
        for row in conn.execute(select(t.schedules).order_by(t.schedules.c.id))
    ]


def _insert_play(conn: Connection, play: Play, playlist_position: int | None) -> None:
    """The outbox row and the rotation it implies; a play id already stored is ignored."""
    _drop_in_progress(conn, play.id)
    exists = conn.execute(select(t.plays.c.seq).where(t.plays.c.id == play.id)).first()
    if exists is not None:
        return
    conn.execute(
        t.plays.insert().values(
            id=play.id,
            asset_id=play.asset_id,
            sha256=play.sha256,
            started_at=play.started_at,
            ended_at=play.ended_at,
            source=play.source.value,
            outcome=play.outcome.value,
            schedule_id=play.schedule_id,
            playlist_id=play.playlist_id,
            uploaded=False,
        )
    )
    if playlist_position is None:
        playlist_position = _started_position(conn, play)
    _mark_started(
        conn, asset_id=play.asset_id, sha256=play.sha256, source=play.source,
        started_at=play.started_at, playlist_id=play.playlist_id,
        position=playlist_position,
    )


def _in_progress(conn: Connection) -> list[dict[str, Any]]:
    raw = _get_state(conn, KEY_IN_PROGRESS)
    if raw is None:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _add_in_progress(conn: Connection, entry: dict[str, Any]) -> None:
    entries = [e for e in _in_progress(conn) if e.get("id") != entry["id"]]
    entries.append(entry)
    _set_state(conn, KEY_IN_PROGRESS, json.dumps(entries[-_IN_PROGRESS_MAX:]))


def _drop_in_progress(conn: Connection, play_id: str) -> None:
    raw = _get_state(conn, KEY_IN_PROGRESS)
    if raw is None or play_id not in raw:
        return
    entries = [e for e in _in_progress(conn) if e.get("id") != play_id]
    if entries:
        _set_state(conn, KEY_IN_PROGRESS, json.dumps(entries))
    else:
        conn.execute(delete(t.state).where(t.state.c.key == KEY_IN_PROGRESS))


def _interrupted_play(entry: dict[str, Any], known_alive_at: datetime | None) -> Play:
    started_at = from_micros(int(entry["started_us"]))
    planned_end_at = from_micros(int(entry["planned_end_us"]))
    alive = [started_at]
    if entry.get("alive_us") is not None:
        alive.append(from_micros(int(entry["alive_us"])))
    if known_alive_at is not None:
        alive.append(known_alive_at)
    ended_at = min(planned_end_at, max(alive))
    return Play(
        id=str(entry["id"]), asset_id=str(entry["asset_id"]), sha256=str(entry["sha256"]),
        started_at=started_at, ended_at=max(started_at, ended_at), source=Tier(entry["source"]),
        outcome=Outcome.SKIPPED, schedule_id=entry.get("schedule_id"),
        playlist_id=entry.get("playlist_id"),
    )


def _least_recent(
    rows: Sequence[Any], kept: dict[int, tuple[str, datetime]]
) -> tuple[Any | None, datetime | None]:
    """The row ``SQL_NEXT_ITEMS`` picks had the kept starts been written, and its last play.

    Same order as the SQL: never played first, then least recently, then position.
    """
    best: tuple[tuple[bool, datetime | None, int], Any, datetime | None] | None = None
    for row in rows:
        last = from_micros(row.last_played_at) if row.last_played_at is not None else None
        start = kept.get(row.position)
        if start is not None and start[0] == row.id and (last is None or last < start[1]):
            last = start[1]
        key = (last is not None, last, row.position)
        if best is None or _order_key(key) < _order_key(best[0]):
            best = (key, row, last)
    return (None, None) if best is None else (best[1], best[2])


def _order_key(key: tuple[bool, datetime | None, int]) -> tuple[bool, int, int]:
    played, last, position = key
    return played, to_micros(last) if last is not None else 0, position
