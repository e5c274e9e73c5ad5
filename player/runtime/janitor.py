"""The janitor: keeps the media cache honest and inside its disk budget.

Each run (a scheduler job, a few minutes apart):
0. writes back what the store kept in memory while its disk was full (plays,
   rotation, state keys), if a retry is due;
1. deletes partial downloads untouched for a day;
2. reconciles the cache with the store: a verified file the store forgot (a
   power cut between the rename and the database write) is re-hashed and
   recorded; a store entry whose file vanished is forgotten;
3. evicts unreferenced files, least recently played first, never a scheduled
   one, to honour ``max_cache_bytes`` and ``min_free_bytes``; records whether
   the scheduled set fits (``storage_full``), saying which limit is reached:
   the cache budget (``downloads.max_cache_bytes``) or the filesystem itself
   (its free bytes against ``downloads.min_free_bytes``);
4. re-hashes a few cached files (at most ``verify_bytes_per_run``), rotating
   through the cache; a file whose hash no longer matches is deleted and
   forgotten so the download manager fetches it again.

A store write that fails because the disk is full (``StoreFull``; the store
logs it once) skips that bookkeeping for this run; the next run redoes it (an
evicted file the store could not forget is forgotten by the next reconcile).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from player.core.downloads import (
    CachedFile,
    DiskBudget,
    EvictionPlan,
    catalogue_needs,
    plan_eviction,
)
from player.errors import StoreFull
from player.ports import Clock, MediaFiles
from player.store.catalogue import CatalogueStore
from player.store.device_state import DeviceStateStore
from player.store.files import FileIndex

log = logging.getLogger(__name__)

STALE_PART_AGE_S = 24 * 3600.0


@dataclass(frozen=True)
class JanitorReport:
    stale_parts_removed: int
    adopted: int
    forgotten: int
    evicted: tuple[str, ...]
    reverified: int
    corrupt: tuple[str, ...]
    storage_full: bool


class Janitor:
    """Cache upkeep; ``run_once`` from one thread at a time, ``room_problem`` from any.

    Of the store it uses the file index, the catalogue (what is referenced and
    needed), the device state (the storage-full flag) and ``write_back`` (the
    database's ``flush_deferred``: what a full disk kept in memory).
    """

    def __init__(
        self,
        cache: MediaFiles,
        clock: Clock,
        *,
        files: FileIndex,
        catalogue: CatalogueStore,
        state: DeviceStateStore,
        write_back: Callable[[], object],
        max_cache_bytes: int | None,
        min_free_bytes: int,
        verify_bytes_per_run: int = 64 * 1024 * 1024,
        on_cache_changed: Callable[[], None] | None = None,
    ) -> None:
        self._files = files
        self._catalogue = catalogue
        self._state = state
        self._write_back = write_back
        self._cache = cache
        self._clock = clock
        self._max_cache_bytes = max_cache_bytes
        self._min_free_bytes = min_free_bytes
        self._verify_bytes_per_run = verify_bytes_per_run
        self._on_cache_changed = on_cache_changed
        self._lock = threading.Lock()
        self._verify_after = ""  # rotation point of the re-verification
        # Start from what the last run stored: the flag is written only on a
        # transition, so starting from False would leave a stored "1" forever.
        self._storage_full = state.read().storage_full
        self._room_problem: str | None = None  # why the last download had no room

    @property
    def storage_full(self) -> bool:
        return self._storage_full

    def run_once(self) -> JanitorReport:
        self._write_back()
        with self._lock:
            stale = self._cache.stale_parts(STALE_PART_AGE_S)
            adopted, forgotten = self._reconcile()
            evicted, storage_full = self._enforce_budget(pending_bytes=0)
            reverified, corrupt = self._reverify()
        if (corrupt or forgotten or adopted) and self._on_cache_changed is not None:
            self._on_cache_changed()
        return JanitorReport(
            len(stale), adopted, forgotten, evicted, reverified, corrupt, storage_full
        )

    def has_room_for(self, size_bytes: int) -> bool:
        """Make room for a download of ``size_bytes`` (evicting if allowed); False if none."""
        return self.room_problem(size_bytes) is None

    def room_problem(self, size_bytes: int) -> str | None:
        """Why a download of ``size_bytes`` does not fit (after evicting), or None.

        Names the limit: "the cache budget is full" (``max_cache_bytes``) or
        "the filesystem is full" (free bytes under ``min_free_bytes``). Logged
        once per change.
        """
        with self._lock:
            self._enforce_budget(pending_bytes=size_bytes)
            free = self._cache.disk_free_bytes()
            problem: str | None = None
            if free - size_bytes < self._min_free_bytes:
                problem = (
                    f"the filesystem is full: {self._cache.root} has {free} bytes free, "
                    f"{size_bytes} needed plus downloads.min_free_bytes={self._min_free_bytes}"
                )
            elif self._max_cache_bytes is not None:
                used = self._cache.usage().size_bytes
                if used + size_bytes > self._max_cache_bytes:
                    problem = (
                        f"the cache budget is full: {used} bytes cached + {size_bytes} > "
                        f"downloads.max_cache_bytes={self._max_cache_bytes}"
                    )
            kind = None if problem is None else problem.split(":")[0]
            if kind != (None if self._room_problem is None else self._room_problem.split(":")[0]):
                if problem is not None:
                    log.warning("cache: no room for downloads: %s", problem)
                else:
                    log.info("cache: room for downloads again")
            self._room_problem = problem
            return problem

    # -- steps ------------------------------------------------------------------------

    def _reconcile(self) -> tuple[int, int]:
        on_disk = {entry.sha256: entry for entry in self._cache.list_files()}
        known = {f.sha256: f for f in self._files.file_states()}
        referenced = {need.sha256: need for need in self._catalogue.referenced_files()}
        adopted = forgotten = 0
        for sha, entry in on_disk.items():
            state = known.get(sha)
            if (state is None or not state.present) and sha in referenced:
                if self._cache.verify(sha):
                    try:
                        self._files.mark_file_verified(sha, entry.size_bytes, self._clock.now())
                    except StoreFull:
                        continue  # adopted by a later run
                    adopted += 1
                else:
                    self._cache.remove(sha)
        for sha, state in known.items():
            if state.present and sha not in on_disk:
                if not self._forget(sha):
                    continue
                forgotten += 1
                log.warning("cache: %s vanished from disk; it will be downloaded again", sha[:12])
        return adopted, forgotten

    def _forget(self, sha: str) -> bool:
        try:
            self._files.forget_file(sha)
        except StoreFull:  # logged by the store; the next reconcile forgets it
            return False
        return True

    def _enforce_budget(self, pending_bytes: int) -> tuple[tuple[str, ...], bool]:
        now = self._clock.now()
        needs = catalogue_needs(self._catalogue.snapshot(), now)
        referenced = {need.sha256 for need in needs.needed}
        states = {f.sha256: f for f in self._files.file_states()}
        files = [
            CachedFile(
                sha256=entry.sha256,
                size_bytes=entry.size_bytes,
                last_played_at=states[entry.sha256].last_played_at
                if entry.sha256 in states
                else None,
                referenced=entry.sha256 in referenced,
                scheduled=entry.sha256 in needs.scheduled_sha256s,
            )
            for entry in self._cache.list_files()
        ]
        cached = {f.sha256 for f in files}
        pending_scheduled = sum(
            need.size_bytes
            for need in needs.needed
            if need.sha256 in needs.scheduled_sha256s and need.sha256 not in cached
        )
        plan = plan_eviction(
            files,
            DiskBudget(
                max_cache_bytes=self._max_cache_bytes,
                min_free_bytes=self._min_free_bytes,
                free_bytes=self._cache.disk_free_bytes(),
                pending_bytes=max(pending_bytes, pending_scheduled),
                pending_scheduled_bytes=min(
                    pending_scheduled, max(pending_bytes, pending_scheduled)
                ),
            ),
        )
        for sha in plan.evict:
            self._cache.remove(sha)  # first: the space it frees may be what the store needs
            self._forget(sha)
        if plan.evict:
            log.info(
                "cache: evicted %d unreferenced files (%d bytes)", len(plan.evict), plan.freed_bytes
            )
        if plan.storage_full != self._storage_full:
            if plan.storage_full:
                log.warning(
                    "cache: storage_full: the scheduled set needs %d bytes, capacity is %d (%s)",
                    plan.scheduled_bytes,
                    plan.capacity_bytes,
                    self._limit(plan, sum(f.size_bytes for f in files)),
                )
            else:
                log.info("cache: storage_full cleared")
            self._storage_full = plan.storage_full
            self._state.set_storage_full(plan.storage_full)
        return plan.evict, plan.storage_full

    def _limit(self, plan: EvictionPlan, cache_bytes: int) -> str:
        """Which limit makes the capacity: the cache budget or the filesystem."""
        free = self._cache.disk_free_bytes()
        fs_capacity = max(0, cache_bytes + free - self._min_free_bytes)
        if self._max_cache_bytes is not None and plan.capacity_bytes < fs_capacity:
            return f"the cache budget is full: downloads.max_cache_bytes={self._max_cache_bytes}"
        return (
            f"the filesystem is full: {self._cache.root} has {free} bytes free, "
            f"downloads.min_free_bytes={self._min_free_bytes}"
        )

    def _reverify(self) -> tuple[int, tuple[str, ...]]:
        entries = sorted(self._cache.list_files(), key=lambda e: e.sha256)
        if not entries:
            return 0, ()
        start = next((i for i, e in enumerate(entries) if e.sha256 > self._verify_after), 0)
        budget = self._verify_bytes_per_run
        checked = 0
        corrupt: list[str] = []
        for entry in entries[start:] + entries[:start]:
            if checked and entry.size_bytes > budget:
                break
            budget -= entry.size_bytes
            checked += 1
            self._verify_after = entry.sha256
            if not self._cache.verify(entry.sha256):
                corrupt.append(entry.sha256)
                self._cache.remove(entry.sha256)
                self._forget(entry.sha256)
                log.warning(
                    "cache: %s failed re-verification; removed, will download again",
                    entry.sha256[:12],
                )
            if budget <= 0 or checked >= len(entries):
                break
        return checked, tuple(corrupt)
