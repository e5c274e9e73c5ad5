"""Writes the store keeps in memory while the database's filesystem is full.

A full SD card must never stop the music. When a write fails with SQLITE_FULL
(or SQLite cannot size its ``-shm``), ``PlayerStore`` keeps what playback and
the clock need in a ``DeferredWrites``. So does playback's start of an item
when another writer holds the lock longer than playback may wait (a large
manifest being applied: ``StoreBusy``); no full episode is opened for that.

- proof of play: a bounded queue, oldest first; what overflows is counted and
  added to the dropped-plays counter when space returns (never lost silently);
- rotation (``mark_started``): the latest start per playlist position, and the
  last asset, so ``decide`` keeps rotating from memory (``rotation_overlay``);
- small state keys (clock lower bound, sync status, storage flag): the latest
  value per key, which ``get_state`` returns meanwhile.

Everything is retried (``retry_due``: at most every ``retry_interval_s``) and
written in the original order with the original instants. The WARNING naming
the filesystem and its free bytes is logged once per full episode, the INFO
once when everything is written again.

Threading: every method takes the internal lock and does no I/O under it
except ``statvfs`` in ``went_full``.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lomuz_rules.model import PLAYLIST_TIERS, Tier
from player.core.model import Play
from player.errors import StoreFull

log = logging.getLogger(__name__)

DEFAULT_MAX_PLAYS = 500  # ~a day of three-minute items
DEFAULT_RETRY_INTERVAL_S = 5.0
_SQLITE_BUSY = 5
_SQLITE_FULL = 13
_SQLITE_IOERR_SHMSIZE = 4874  # the -shm cannot be grown: no space for it either
_FULL_TEXT = "database or disk is full"


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) is SQLite saying the filesystem is full."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", None)
            if code is not None and (code & 0xFF == _SQLITE_FULL or code == _SQLITE_IOERR_SHMSIZE):
                return True
            return _FULL_TEXT in str(seen)
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def is_busy(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) is SQLite saying another connection holds the lock."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", None)
            return code is not None and code & 0xFF == _SQLITE_BUSY
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def filesystem_of(path: Path) -> tuple[str, int | None]:
    """The mount point holding ``path`` and the bytes free to this process there."""
    target = path
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        st = os.statvfs(target)
        free: int | None = st.f_bavail * st.f_frsize
        mount = target.resolve()
        dev = mount.stat().st_dev
        while mount != mount.parent and mount.parent.stat().st_dev == dev:
            mount = mount.parent
    except OSError:
        return str(target), None
    return str(mount), free


@dataclass(frozen=True)
class StartedEntry:
    """One ``mark_started`` call that could not be written.

    ``in_progress`` is the in-progress record ``mark_started`` would have
    stored with it (None when it was given no play id).
    """

    asset_id: str
    sha256: str
    source: Tier
    started_at: datetime
    playlist_id: str | None
    position: int | None
    in_progress: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeferredPlay:
    play: Play
    position: int | None


class DeferredWrites:
    """The in-memory side of a full filesystem (see the module docstring)."""

    def __init__(
        self,
        db_path: Path | None,
        *,
        max_plays: int = DEFAULT_MAX_PLAYS,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_plays < 1:
            raise ValueError(f"max_plays must be >= 1, got {max_plays}")
        self._db_path = db_path
        self.max_plays = max_plays
        self._retry_interval_s = retry_interval_s
        self._mono = mono
        self._lock = threading.Lock()
        self._plays: deque[DeferredPlay] = deque()
        self._started: deque[StartedEntry] = deque(maxlen=max_plays)
        self._state: dict[str, str] = {}
        self._overflowed = 0  # plays dropped from the queue, not yet in the stored counter
        self._full = False
        self._failed_at_mono: float | None = None
        self._written_since_full = 0
        self._overflowed_since_full = 0
        self._last_error: StoreFull | None = None

    # -- what callers ask ----------------------------------------------------------

    @property
    def full(self) -> bool:
        with self._lock:
            return self._full

    def idle(self) -> bool:
        """Nothing kept and no full episode open: write directly."""
        with self._lock:
            return not self._full and not self._has_work_locked()

    def has_work(self) -> bool:
        with self._lock:
            return self._has_work_locked()

    def retry_due(self) -> bool:
        with self._lock:
            return (
                self._failed_at_mono is None
                or self._mono() - self._failed_at_mono >= self._retry_interval_s
            )

    def state(self, key: str) -> str | None:
        with self._lock:
            return self._state.get(key)

    def plays_count(self) -> int:
        with self._lock:
            return len(self._plays)

    def overflowed(self) -> int:
        with self._lock:
            return self._overflowed

    def rotation_overlay(self) -> dict[tuple[str, int], tuple[str, datetime]]:
        """(playlist_id, position) -> (asset_id, started_at) of starts not yet written."""
        out: dict[tuple[str, int], tuple[str, datetime]] = {}
        with self._lock:
            entries = [
                (e.playlist_id, e.position, e.asset_id, e.started_at, e.source)
                for e in self._started
            ] + [
                (d.play.playlist_id, d.position, d.play.asset_id, d.play.started_at, d.play.source)
                for d in self._plays
            ]
        for playlist_id, position, asset_id, started_at, source in entries:
            if source not in PLAYLIST_TIERS or playlist_id is None or position is None:
                continue
            key = (playlist_id, position)
            if key not in out or out[key][1] < started_at:
                out[key] = (asset_id, started_at)
        return out

    def last_asset(self) -> tuple[str, datetime] | None:
        """The most recently started asset not yet written, with its start."""
        best: tuple[str, datetime] | None = None
        with self._lock:
            starts = [(e.asset_id, e.started_at) for e in self._started]
            starts += [(d.play.asset_id, d.play.started_at) for d in self._plays]
        for asset_id, started_at in starts:
            if best is None or best[1] <= started_at:
                best = (asset_id, started_at)
        return best

    # -- keeping ---------------------------------------------------------------------

    def keep_play(self, play: Play, position: int | None) -> None:
        with self._lock:
            if len(self._plays) >= self.max_plays:
                self._plays.popleft()
                self._overflowed += 1
                self._overflowed_since_full += 1
            self._plays.append(DeferredPlay(play, position))

    def keep_started(self, entry: StartedEntry) -> None:
        with self._lock:
            self._started.append(entry)

    def keep_state(self, key: str, value: str) -> None:
        with self._lock:
            self._state[key] = value

    # -- writing back ----------------------------------------------------------------

    def peek(
        self, max_plays: int
    ) -> tuple[list[StartedEntry], dict[str, str], list[DeferredPlay], int]:
        with self._lock:
            return (
                list(self._started),
                dict(self._state),
                list(self._plays)[:max_plays],
                self._overflowed,
            )

    def written(
        self,
        started: list[StartedEntry],
        state: dict[str, str],
        plays: list[DeferredPlay],
        overflowed: int,
    ) -> None:
        """What ``peek`` returned is in the database now (other threads may have added)."""
        with self._lock:
            for entry in started:
                if self._started and self._started[0] is entry:
                    self._started.popleft()
            for key, value in state.items():
                if self._state.get(key) == value:
                    del self._state[key]
            for item in plays:
                if self._plays and self._plays[0] is item:
                    self._plays.popleft()
            self._overflowed -= overflowed
            self._written_since_full += len(plays)

    def drop_play(self, item: DeferredPlay) -> None:
        """A play that cannot be written for another reason than space: count it."""
        with self._lock:
            if self._plays and self._plays[0] is item:
                self._plays.popleft()
                self._overflowed += 1

    # -- the full episode ------------------------------------------------------------

    def went_full(self, exc: BaseException) -> StoreFull:
        """A write failed for lack of space: log once per episode; the error to raise."""
        mount, free = filesystem_of(self._db_path) if self._db_path else ("memory", None)
        free_text = "unknown" if free is None else str(free)
        reason = str(getattr(exc, "orig", None) or exc)  # SQLite's words, not the wrapper's
        with self._lock:
            first = not self._full
            self._full = True
            self._failed_at_mono = self._mono()
            if first:
                self._written_since_full = self._overflowed_since_full = 0
        if first:
            log.warning(
                "store: the filesystem %s is full (%s bytes free; %s): up to %d plays are "
                "kept in memory (older ones dropped and counted), rotation and state keys "
                "too; the clock bound, status keys and syncs wait; retrying every %.0f s",
                mount,
                free_text,
                reason,
                self.max_plays,
                self._retry_interval_s,
            )
        else:
            log.debug("store: still full: %s", reason)
        where = self._db_path or "the database"
        error = StoreFull(
            f"database or disk is full: {mount} has {free_text} bytes free (writing {where})",
            path=mount,
            free_bytes=free,
        )
        with self._lock:
            self._last_error = error
        return error

    def still_full(self) -> StoreFull:
        """The error for a write not even tried (the retry is not due yet); no I/O."""
        with self._lock:
            last = self._last_error
        if last is not None:
            return StoreFull(str(last), path=last.path, free_bytes=last.free_bytes)
        return StoreFull("database or disk is full", path="?", free_bytes=None)

    def failed_otherwise(self) -> None:
        """A write-back failed for another reason (locked, I/O): retry later, too."""
        with self._lock:
            self._failed_at_mono = self._mono()

    def wrote(self) -> None:
        """A write succeeded; when nothing is kept any more, the episode is over."""
        with self._lock:
            if not self._full or self._has_work_locked():
                return
            self._full = False
            self._failed_at_mono = None
            written, dropped = self._written_since_full, self._overflowed_since_full
        mount, free = filesystem_of(self._db_path) if self._db_path else ("memory", None)
        log.info(
            "store: space is back on %s (%s bytes free): %d plays kept in memory were "
            "written, %d dropped (counted)",
            mount,
            "unknown" if free is None else free,
            written,
            dropped,
        )

    def lost_at_close(self) -> int:
        """At close: how many plays are still only in memory (they are lost)."""
        with self._lock:
            return len(self._plays) + self._overflowed

    def _has_work_locked(self) -> bool:
        return bool(self._plays or self._started or self._state or self._overflowed)


def started_kwargs(entry: StartedEntry) -> dict[str, Any]:
    return {
        "asset_id": entry.asset_id,
        "sha256": entry.sha256,
        "source": entry.source,
        "started_at": entry.started_at,
        "playlist_id": entry.playlist_id,
        "position": entry.position,
    }
