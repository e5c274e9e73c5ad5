"""The download manager: worker threads fetching referenced files by priority.

Threading: ``reprioritise`` (after a sync or a schedule boundary) rebuilds the
queue from the store under a condition variable; ``concurrency`` worker threads
take the best ready task, fetch it (``Fetcher`` streams, hashes, verifies and
renames atomically) and record it in the store, then call ``on_file_ready`` so
playback can re-evaluate. Failures back off per sha256 (player.core.backoff)
and stay visible in ``status()``. A failing file is logged once per
transition (failing, recovered), not at every retry.
"""

from __future__ import annotations

import collections
import logging
import random as random_module
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from player.core.backoff import BackoffPolicy, FailureState, record_failure
from player.core.downloads import DownloadTask, NeededFile, catalogue_needs, download_order
from player.core.status import DownloadFailure, DownloadStatus
from player.errors import AuthError, DownloadError, IntegrityError, PlayerError
from player.ports import Clock, MediaFetcher, MediaFiles
from player.store.catalogue import CatalogueStore
from player.store.files import FileIndex

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = BackoffPolicy(base_delay_s=5.0, max_delay_s=1800.0)


class DownloadManager:
    """Keeps the media cache filled with what the catalogue references."""

    def __init__(
        self,
        catalogue: CatalogueStore,
        files: FileIndex,
        cache: MediaFiles,
        fetcher: MediaFetcher,
        clock: Clock,
        *,
        concurrency: int = 2,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        on_file_ready: Callable[[str], None] | None = None,
        room_problem: Callable[[int], str | None] | None = None,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self._catalogue = catalogue
        self._files = files
        self._cache = cache
        self._fetcher = fetcher
        self._clock = clock
        self._concurrency = concurrency
        self._backoff = backoff
        self._on_file_ready = on_file_ready
        self._room_problem = room_problem
        self._random = random
        self._cond = threading.Condition()
        self._queue: list[DownloadTask] = []
        self._in_progress: set[str] = set()
        self._failures: dict[str, FailureState] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._downloaded_total = 0
        self._failed_total = 0
        self._downloaded_bytes_total = 0
        self._recent: collections.deque[tuple[float, str, int]] = collections.deque(maxlen=200)
        self._size_conflicts_logged: set[tuple[str, int]] = set()

    # -- control, from any thread ------------------------------------------------

    def start(self) -> None:
        """Queue what the stored catalogue needs and start the workers.

        Never raises for what the store holds: state stored by an older player
        (say two assets of one sha256 with different sizes, which the decoder
        now refuses) must not stop the daemon from starting; the workers start
        and the next sync rebuilds the queue.
        """
        try:
            self.reprioritise()
        except Exception:  # start boundary: the daemon must start whatever is stored
            log.exception(
                "downloads: cannot plan from the stored catalogue; waiting for the next sync"
            )
        for n in range(self._concurrency):
            thread = threading.Thread(target=self._work, name=f"download-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel downloads in flight (their partial files stay for a resume)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)

    def reprioritise(self) -> None:
        """Rebuild the queue from the store (after a sync or a schedule boundary)."""
        now = self._clock.now()
        needs = catalogue_needs(self._catalogue.snapshot(), now)
        present = {f.sha256 for f in self._files.file_states() if f.present}
        tasks = download_order(
            self._one_size_per_file(needs.needed),
            active_playlist_ids=needs.active_playlist_ids,
            next_start_by_playlist=needs.next_start_by_playlist,
            present=present,
        )
        wanted = {task.sha256 for task in tasks}
        with self._cond:
            self._queue = tasks
            # Forget failures of files no longer wanted, so status stays true.
            self._failures = {k: v for k, v in self._failures.items() if k in wanted}
            self._cond.notify_all()

    def _one_size_per_file(self, needed: Iterable[NeededFile]) -> list[NeededFile]:
        """Drop uses of a sha256 that disagree on its size with the first (by asset id).

        ``download_order`` refuses such a list; the decoder refuses such a
        manifest, but a store filled before it did may hold one. One file has
        one size, and the fetcher verifies it, so the first use is kept and
        the conflict logged once.
        """
        first: dict[str, NeededFile] = {}
        out: list[NeededFile] = []
        for need in sorted(needed, key=lambda n: (n.sha256, n.asset_ids)):
            kept = first.setdefault(need.sha256, need)
            if kept.size_bytes != need.size_bytes:
                key = (need.sha256, need.size_bytes)
                if key not in self._size_conflicts_logged:
                    self._size_conflicts_logged.add(key)
                    log.warning(
                        "downloads: %s is listed with size %d (assets %s) and %d (assets %s); "
                        "fetching it as %d bytes",
                        need.sha256[:12],
                        kept.size_bytes,
                        ", ".join(kept.asset_ids),
                        need.size_bytes,
                        ", ".join(need.asset_ids),
                        kept.size_bytes,
                    )
                continue
            out.append(need)
        return out

    def retry_now(self) -> None:
        """Clear back-offs (an explicit `lomuz-player sync` asks for a fresh try)."""
        with self._cond:
            self._failures = {
                k: FailureState(key=k, failures=v.failures, last_error=v.last_error)
                for k, v in self._failures.items()
            }
            self._cond.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until nothing is in flight and every queued task is backing off."""
        deadline = self._clock.monotonic() + timeout_s
        with self._cond:
            while True:
                if not self._in_progress and self._next_ready_locked(self._clock.now()) is None:
                    return True
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 1.0))

    def downloaded_since(self, monotonic_s: float) -> list[dict[str, object]]:
        """Files verified into the cache since ``monotonic_s`` (the last 200 at most)."""
        with self._cond:
            return [
                {"sha256": sha, "size_bytes": size}
                for at, sha, size in self._recent
                if at >= monotonic_s
            ]

    def status(self) -> DownloadStatus:
        with self._cond:
            failing = tuple(
                DownloadFailure(s.key, s.failures, s.next_attempt_at, s.last_error)
                for s in self._failures.values()
                if s.failures
            )
            return DownloadStatus(
                pending=len(self._queue),
                in_progress=tuple(sorted(self._in_progress)),
                failing=failing,
                downloaded_total=self._downloaded_total,
                failed_total=self._failed_total,
                downloaded_bytes_total=self._downloaded_bytes_total,
            )

    # -- worker threads -------------------------------------------------------------

    def _next_ready_locked(self, now: datetime) -> DownloadTask | None:
        for task in self._queue:
            if task.sha256 in self._in_progress:
                continue
            state = self._failures.get(task.sha256)
            if state is None or state.may_attempt(now):
                return task
        return None

    def _wait_s_locked(self, now: datetime) -> float:
        waits = [
            (s.next_attempt_at - now).total_seconds()
            for s in self._failures.values()
            if s.next_attempt_at is not None
            and s.next_attempt_at > now
            and s.key not in self._in_progress
        ]
        return max(0.05, min([60.0, *waits]))

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                now = self._clock.now()
                task = self._next_ready_locked(now)
                if task is None:
                    self._cond.wait(self._wait_s_locked(now))
                    continue
                self._in_progress.add(task.sha256)
            try:
                self._download(task)
            finally:
                with self._cond:
                    self._in_progress.discard(task.sha256)
                    self._cond.notify_all()

    def _download(self, task: DownloadTask) -> None:
        download_id = uuid.uuid4().hex[:8]
        sha = task.sha256
        try:
            problem = self._room_problem(task.size_bytes) if self._room_problem else None
            if problem is not None:
                raise DownloadError(f"storage_full: {problem}", sha)
            result = self._fetcher.fetch(task.url, sha, task.size_bytes, cancel=self._stopping)
            self._files.mark_file_verified(sha, result.size_bytes, self._clock.now())
        except (DownloadError, AuthError) as exc:
            if self._stopping.is_set():
                return
            self._failed(task, exc, download_id)
            return
        except (PlayerError, OSError) as exc:
            self._failed(task, exc, download_id)
            return
        except Exception as exc:  # worker boundary: never let one file kill the worker
            log.exception("download %s %s: unexpected error", download_id, sha[:12])
            self._failed(task, exc, download_id)
            return
        with self._cond:
            previous = self._failures.pop(sha, None)
            self._queue = [t for t in self._queue if t.sha256 != sha]
            self._downloaded_total += 1
            self._downloaded_bytes_total += result.transferred_bytes
            self._recent.append((self._clock.monotonic(), sha, result.size_bytes))
        if previous is not None and previous.failures:
            log.info(
                "download %s %s: recovered after %d failures",
                download_id,
                sha[:12],
                previous.failures,
            )
        log.info(
            "download %s %s: verified %d bytes%s",
            download_id,
            sha[:12],
            result.size_bytes,
            " (resumed)" if result.resumed else "",
        )
        if self._on_file_ready is not None:
            self._on_file_ready(sha)

    def _failed(self, task: DownloadTask, exc: BaseException, download_id: str) -> None:
        retry_after_s = getattr(exc, "retry_after_s", None)
        now = self._clock.now()
        with self._cond:
            state = self._failures.get(task.sha256, FailureState(key=task.sha256))
            first = state.failures == 0
            self._failures[task.sha256] = record_failure(
                state, now, self._backoff, self._random, error=str(exc), retry_after_s=retry_after_s
            )
            self._failed_total += 1
        if first or isinstance(exc, IntegrityError):
            log.warning("download %s %s: failing: %s", download_id, task.sha256[:12], exc)
