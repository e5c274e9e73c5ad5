"""Player metrics for node_exporter's textfile collector (Prometheus text format).

``write_textfile(directory, snapshot)`` writes ``lomuz_player.prom`` atomically:
a hidden temp file in the same directory (node_exporter only reads ``*.prom``,
so it never sees a half-written file), fsync, rename, fsync the directory.
The exposition is produced by prometheus_client (``generate_latest`` on a
private ``CollectorRegistry``: no global state) rather than its
``write_to_textfile``, which does not fsync: after a power cut the file must be
the old one or the new one, never empty.

Metric names carry their unit (``_seconds``, ``_bytes``, ``_total``). The
"seconds since last sync" gauge is absent (HELP/TYPE only) until a first sync.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from player.adapters.atomic_file import write_file_atomically

TEXTFILE_NAME = "lomuz_player.prom"
PREFIX = "lomuz_player_"


@dataclass(frozen=True)
class PlayerMetrics:
    """One snapshot of the player's state. Counts >= 0; instants tz-aware.

    ``tier`` is what plays now (a ``Tier`` value) or None when nothing plays.
    ``last_sync_age_s`` is None until the first successful sync.
    """

    playing: bool
    tier: str | None
    last_sync_age_s: float | None
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
    version: str = "unknown"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"PlayerMetrics.{f.name} must be >= 0, got {value}")
        if self.last_sync_age_s is not None and not (
            math.isfinite(self.last_sync_age_s) and self.last_sync_age_s >= 0
        ):
            raise ValueError(
                f"PlayerMetrics.last_sync_age_s must be a finite number >= 0 or None, "
                f"got {self.last_sync_age_s}"
            )
        if not math.isfinite(self.clock_offset_s):
            raise ValueError(
                f"PlayerMetrics.clock_offset_s must be finite, got {self.clock_offset_s}"
            )
        if self.started_at.tzinfo is None:
            raise ValueError("PlayerMetrics.started_at must be timezone-aware")
        if self.tier is not None and not self.tier:
            raise ValueError("PlayerMetrics.tier must be None or a non-empty string")


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    # prometheus_client appends "_total"; created=None: no _created sample.
    return CounterMetricFamily(PREFIX + name, doc, value=value)


class _SnapshotCollector:
    def __init__(self, snapshot: PlayerMetrics) -> None:
        self._s = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._s
        yield _gauge("up", "1 while the player wrote this file.", 1)
        yield _gauge(
            "start_time_seconds",
            "When the player process started (Unix time).",
            s.started_at.timestamp(),
        )
        build = GaugeMetricFamily(PREFIX + "build_info", "Player version.", labels=["version"])
        build.add_metric([s.version], 1)
        yield build
        yield _gauge("playing", "1 when something is playing.", int(s.playing))
        info = GaugeMetricFamily(
            PREFIX + "playing_info",
            "The tier playing now (playlist, emergency, jingle, silence, none).",
            labels=["tier"],
        )
        info.add_metric([s.tier or "none"], int(s.playing))
        yield info
        age = GaugeMetricFamily(
            PREFIX + "last_sync_age_seconds",
            "Seconds since the last successful sync; absent before the first.",
        )
        if s.last_sync_age_s is not None:
            age.add_metric([], s.last_sync_age_s)
        yield age
        yield _gauge("outbox_pending_plays", "Plays waiting for upload.", s.outbox_pending_plays)
        yield _counter(
            "outbox_dropped_plays",
            "Plays dropped because the outbox was full.",
            s.outbox_dropped_plays_total,
        )
        yield _gauge("cache_bytes", "Bytes of verified media in the cache.", s.cache_bytes)
        yield _gauge("cache_files", "Verified media files in the cache.", s.cache_files)
        yield _counter("download_failures", "Failed media downloads.", s.download_failures_total)
        yield _gauge("downloads_pending", "Media files still to download.", s.pending_downloads)
        yield _counter("plays", "Plays recorded.", s.plays_total)
        yield _gauge(
            "clock_offset_seconds", "API time minus local time, in seconds.", s.clock_offset_s
        )
        yield _gauge(
            "clock_trusted", "1 when the corrected clock is trusted.", int(s.clock_trusted)
        )
        yield _gauge(
            "quarantined_assets", "Media files quarantined after failing.", s.quarantined_assets
        )
        yield _gauge(
            "storage_full",
            "1 when the scheduled media does not fit the disk.",
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
