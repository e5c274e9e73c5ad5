"""Player metrics for node_exporter's textfile collector (Prometheus text format).

``write_textfile(directory, snapshot)`` writes ``lomuz_player.prom`` atomically:
a hidden temp file in the same directory (node_exporter only reads ``*.prom``,
so it never sees a half-written file), fsync, rename, fsync the directory.
The exposition is produced by prometheus_client (``generate_latest`` on a
private ``CollectorRegistry``: no global state) rather than its
``write_to_textfile``, which does not fsync: after a power cut the file must be
the old one or the new one, never empty.

Metric names carry their unit (``_seconds``, ``_bytes``; ``_total`` only on
counters, which never go down while the store lives). Instants are
``*_timestamp_seconds`` (Unix time), not ages: the file may be read minutes
after it was written, and ``time() - x`` in PromQL is exact. The sync
timestamps are absent (HELP/TYPE only) until a first sync.

``TextfileWriter`` is what the daemon's metrics job (``MetricsTextfile``)
calls every 30 s: an unwritable directory is logged once when writing starts
failing (a WARNING naming the directory and the fix) and once when it works
again (INFO), not on every attempt. When the daemon stops it writes
``lomuz_player_up 0`` (or removes the file), so a stopped player never reads
as up.

The Debian package's layout (packaging/player/postinst): node_exporter reads
``/var/lib/prometheus/node-exporter`` (Debian's prometheus-node-exporter
owns it); the player writes into its own subdirectory ``lomuz-player/`` there,
owned by ``lomuz``, and a symlink ``lomuz_player.prom`` in the parent points
at the file (node_exporter opens ``*.prom`` entries, following symlinks, and
ignores subdirectories). The temp-file-and-rename needs a directory the
player may write, and this one is ours alone.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from player.adapters.atomic_file import write_file_atomically
from player.core.status import PlayerStatus

log = logging.getLogger(__name__)

TEXTFILE_NAME = "lomuz_player.prom"
PREFIX = "lomuz_player_"
# Where the Debian package sets things up (see the module docstring).
DEBIAN_TEXTFILE_DIR = Path("/var/lib/prometheus/node-exporter/lomuz-player")


@dataclass(frozen=True)
class PlayerMetrics:
    """One snapshot of the player's state. Counts >= 0; instants tz-aware.

    ``tier`` is what plays now (a ``Tier`` value) or None when nothing plays.
    The sync instants are None until the first attempt / success;
    ``sync_failing`` is True when the last attempt failed. ``plays_total``
    counts plays ever recorded (never the outbox size). ``taken_at`` is when
    the snapshot was taken; ``up`` is False in the file written at shutdown.
    """

    playing: bool
    tier: str | None
    last_sync_success_at: datetime | None
    last_sync_attempt_at: datetime | None
    sync_failing: bool
    outbox_pending_plays: int
    outbox_dropped_plays_total: int
    cache_bytes: int
    cache_files: int
    download_failures_total: int
    pending_downloads: int
    plays_total: int
    clock_offset_s: float
    clock_trusted: bool
    quarantined_assets: int
    storage_full: bool
    started_at: datetime
    taken_at: datetime
    version: str = "unknown"
    up: bool = True

    @classmethod
    def from_status(cls, status: PlayerStatus) -> PlayerMetrics:
        """The textfile's view of the one status model (the daemon's: runtime and clock set)."""
        runtime, clock = status.runtime, status.clock
        if runtime is None or clock is None:
            raise ValueError("the metrics need the daemon's runtime and clock")
        playing, downloads = runtime.now_playing, runtime.downloads
        return cls(
            playing=status.playing,
            tier=str(playing.tier) if playing is not None and playing.tier else None,
            last_sync_success_at=status.state.last_sync_ok_at,
            last_sync_attempt_at=status.state.last_sync_attempt_at,
            sync_failing=status.state.last_sync_error is not None,
            outbox_pending_plays=status.counts.outbox_pending,
            outbox_dropped_plays_total=status.counts.plays_dropped,
            cache_bytes=status.cache.size_bytes,
            cache_files=status.cache.files,
            download_failures_total=downloads.failed_total if downloads else 0,
            pending_downloads=downloads.pending if downloads else 0,
            plays_total=status.plays_total,
            clock_offset_s=clock.offset_s,
            clock_trusted=clock.trusted,
            quarantined_assets=status.counts.quarantined,
            storage_full=runtime.storage_full,
            started_at=runtime.started_at,
            taken_at=status.at,
            version=runtime.player_version,
        )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"PlayerMetrics.{f.name} must be >= 0, got {value}")
        if not math.isfinite(self.clock_offset_s):
            raise ValueError(
                f"PlayerMetrics.clock_offset_s must be finite, got {self.clock_offset_s}"
            )
        for name in ("started_at", "taken_at", "last_sync_success_at", "last_sync_attempt_at"):
            at = getattr(self, name)
            if at is not None and at.tzinfo is None:
                raise ValueError(f"PlayerMetrics.{name} must be timezone-aware")
        if self.tier is not None and not self.tier:
            raise ValueError("PlayerMetrics.tier must be None or a non-empty string")


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


def _instant(name: str, doc: str, at: datetime | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, doc)
    if at is not None:
        family.add_metric([], at.timestamp())
    return family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    # prometheus_client appends "_total"; created=None: no _created sample.
    return CounterMetricFamily(PREFIX + name, doc, value=value)


class _SnapshotCollector:
    def __init__(self, snapshot: PlayerMetrics) -> None:
        self._s = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._s
        yield _gauge(
            "up",
            "1 while the player daemon runs and writes this file; 0 once it stopped.",
            int(s.up),
        )
        yield _gauge(
            "metrics_written_timestamp_seconds",
            "When the player wrote this file (Unix time); an old value with up 1 means the "
            "daemon died or hangs.",
            s.taken_at.timestamp(),
        )
        yield _gauge(
            "start_time_seconds",
            "When the player process started (Unix time).",
            s.started_at.timestamp(),
        )
        build = GaugeMetricFamily(
            PREFIX + "build_info",
            "Always 1; the version label is the running player's version.",
            labels=["version"],
        )
        build.add_metric([s.version], 1)
        yield build
        yield _gauge("playing", "1 when media is playing, 0 when silent.", int(s.playing))
        info = GaugeMetricFamily(
            PREFIX + "playing_info",
            "1 for the tier playing now (override, playlist, emergency, jingle, silence); "
            "tier none with 0 when nothing plays.",
            labels=["tier"],
        )
        info.add_metric([s.tier or "none"], int(s.playing))
        yield info
        yield _instant(
            "last_sync_success_timestamp_seconds",
            "When the last successful sync with the control API ended (Unix time); absent "
            "before the first.",
            s.last_sync_success_at,
        )
        yield _instant(
            "last_sync_attempt_timestamp_seconds",
            "When the last sync attempt started (Unix time); absent before the first.",
            s.last_sync_attempt_at,
        )
        yield _gauge(
            "sync_failing", "1 when the last sync attempt failed, else 0.", int(s.sync_failing)
        )
        yield _gauge(
            "outbox_pending_plays",
            "Plays recorded but not yet accepted by the control API.",
            s.outbox_pending_plays,
        )
        yield _counter(
            "outbox_dropped_plays",
            "Plays deleted unsent because the outbox reached its row limit.",
            s.outbox_dropped_plays_total,
        )
        yield _gauge("cache_bytes", "Bytes of verified media in the cache.", s.cache_bytes)
        yield _gauge("cache_files", "Verified media files in the cache.", s.cache_files)
        yield _counter(
            "download_failures",
            "Failed media download attempts since the daemon started.",
            s.download_failures_total,
        )
        yield _gauge("downloads_pending", "Media files still to download.", s.pending_downloads)
        yield _counter(
            "plays",
            "Plays recorded by this box since its database was created (only goes up).",
            s.plays_total,
        )
        yield _gauge(
            "clock_offset_seconds",
            "Control API time minus local time, in seconds.",
            s.clock_offset_s,
        )
        yield _gauge(
            "clock_trusted",
            "1 when the corrected clock is trusted (synced recently), else 0.",
            int(s.clock_trusted),
        )
        yield _gauge(
            "quarantined_assets",
            "Media files quarantined after failing to play.",
            s.quarantined_assets,
        )
        yield _gauge(
            "storage_full",
            "1 when the scheduled media does not fit the disk budget, else 0.",
            int(s.storage_full),
        )


def render(snapshot: PlayerMetrics) -> bytes:
    """The Prometheus text exposition of ``snapshot``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)


def write_textfile(directory: Path, snapshot: PlayerMetrics) -> Path:
    """Atomically replace ``directory/lomuz_player.prom``; returns its path.

    The directory must exist (node_exporter owns it). Raises OSError on I/O
    failure; no temp file is left behind either way.
    """
    target = directory / TEXTFILE_NAME
    # node_exporter runs as another user: world-readable.
    write_file_atomically(target, render(snapshot), mode=0o644)
    return target


def textfile_dir_problem(directory: Path) -> str | None:
    """What stops this user from writing the textfile in ``directory``; None when nothing.

    Read-only (no file is created): for ``lomuz-player doctor`` and the
    daemon's warning. Run it as the service user for a true answer.
    """
    fix = (
        f"the lomuz-player package sets up {DEBIAN_TEXTFILE_DIR} (writable by lomuz, linked "
        "from node_exporter's directory); elsewhere, make the directory writable by the "
        "service user and add it to ReadWritePaths= in a drop-in; or unset [metrics] "
        "textfile_dir"
    )
    try:
        if not directory.exists():
            return f"metrics textfile directory {directory} does not exist: {fix}"
        if not directory.is_dir():
            return f"metrics textfile directory {directory} is not a directory: {fix}"
    except OSError as exc:  # a parent we may not search
        return f"metrics textfile directory {directory} cannot be read ({exc.strerror}): {fix}"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"metrics textfile directory {directory} is not writable by this user: {fix}"
    return None


class TextfileWriter:
    """Writes the textfile for the daemon's metrics job; logs state changes only.

    Not thread-safe: the daemon calls it under its metrics lock.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._failing = False

    @property
    def failing(self) -> bool:
        """True since the last write failed, until one succeeds."""
        return self._failing

    def write(self, snapshot: PlayerMetrics) -> bool:
        """Replace the file; False (logged once per failure streak) when it cannot."""
        try:
            write_textfile(self.directory, snapshot)
        except OSError as exc:
            self._failed(exc)
            return False
        if self._failing:
            self._failing = False
            log.info("metrics: writing %s again", self.directory / TEXTFILE_NAME)
        return True

    def write_stopped(self, snapshot: PlayerMetrics) -> bool:
        """The last file of this daemon: up 0, nothing playing."""
        return self.write(replace(snapshot, up=False, playing=False, tier=None))

    def remove(self) -> None:
        """Delete the file (shutdown without a snapshot): no stale up 1 stays behind."""
        try:
            (self.directory / TEXTFILE_NAME).unlink(missing_ok=True)
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        if self._failing:
            return
        self._failing = True
        problem = textfile_dir_problem(self.directory)
        log.warning(
            "metrics: cannot write %s (%s); node_exporter keeps the last file. %s",
            self.directory / TEXTFILE_NAME,
            exc.strerror or exc,
            problem or "Check the disk (full or read-only?) and the directory's permissions.",
        )


class MetricsTextfile:
    """The node_exporter textfile: written by the metrics job, and once more (up 0) at stop.

    Both under one lock, and never after the stop's write (a job still running
    when the scheduler stopped must not write "up 1" again). ``status`` reads
    the one status model (host probes left out); ``can_snapshot`` says whether
    it can be read (what it reads was built).
    """

    def __init__(
        self,
        textfile_dir: Path,
        status: Callable[[], PlayerStatus],
        can_snapshot: Callable[[], bool] = lambda: True,
    ) -> None:
        self._writer = TextfileWriter(textfile_dir)
        self._status = status
        self._can_snapshot = can_snapshot
        self._lock = threading.Lock()
        self.stopped = False

    def write(self) -> None:
        """The metrics job."""
        with self._lock:
            if self.stopped:
                return
            try:
                snapshot = PlayerMetrics.from_status(self._status())
            except Exception:  # job boundary: a bug, not the directory (the writer logs that)
                log.exception("metrics: cannot take a snapshot")
                return
            self._writer.write(snapshot)

    def write_stopped(self) -> None:
        """At stop, while the store is open: the textfile says up 0 (never a stale 1).

        Once: a second call (the stop after a start that failed) does nothing.
        """
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            if not self._can_snapshot():
                self._writer.remove()  # start failed early: no snapshot to give
                return
            try:
                snapshot = PlayerMetrics.from_status(self._status())
            except Exception:  # shutdown boundary: still leave no "up 1" behind
                log.exception("metrics: cannot take the last snapshot")
                self._writer.remove()
                return
            self._writer.write_stopped(snapshot)
