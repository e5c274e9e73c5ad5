"""Decision latency of PlayerStore.decisions.decide at 1k, 10k and 100k assets.

Usage: .venv/bin/python scripts/bench/bench_decision.py [--sizes 1000 10000 100000]
       [--decisions 2000]

Each size gets a fresh SQLite file in a temp dir: 20 schedules (dayparts,
priorities) over 20 playlists sharing the assets, 10 emergency assets, every
file verified, 5% of assets expired. Two phases are timed: "fresh" (nothing
played: the first-unplayed query answers) and "rotated" (every item already
played once, seeded directly in SQL: the least-recently-played query answers).
Prints p50/p99 per phase and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from lomuz_rules.model import Asset, MediaType, Playlist, PlaylistItem, Schedule, TargetKind
from player.core.model import DeviceInfo, Manifest
from player.store import PlayerStore
from player.store.tables import to_micros

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
N_PLAYLISTS = 20


def build_manifest(n_assets: int) -> Manifest:
    rng = random.Random(42)
    assets = []
    for i in range(n_assets):
        digest = hashlib.sha256(f"asset{i}".encode()).hexdigest()
        expired = rng.random() < 0.05
        assets.append(
            Asset(
                id=f"a{i:06d}",
                sha256=digest,
                size_bytes=4_000_000,
                media_type=MediaType.AUDIO,
                content_type="audio/mpeg",
                title=f"Track {i}",
                duration_ms=200_000,
                valid_from=None,
                valid_until=T0 - timedelta(days=1) if expired else None,
                emergency=i < 10,
                url=f"/v1/media/{digest}",
            )
        )
    playlists = [
        Playlist(
            id=f"p{p}",
            name=f"Playlist {p}",
            version=1,
            items=tuple(PlaylistItem(a.id) for a in assets[p::N_PLAYLISTS]),
        )
        for p in range(N_PLAYLISTS)
    ]
    schedules = [
        Schedule(
            id=f"s{p}",
            playlist_id=f"p{p}",
            target=list(TargetKind)[p % 3],
            priority=p % 4,
            days=frozenset(range(1, 8)),
            start_minute=(p * 70) % 1440,
            end_minute=((p * 70) + 600) % 1440 or 1440,
            valid_from=None,
            valid_until=None,
            created_at=T0 - timedelta(days=p),
            version=1,
        )
        for p in range(N_PLAYLISTS)
    ]
    return Manifest(
        schema=1,
        cursor="bench",
        full=True,
        server_time=T0,
        sync_interval_s=600,
        device=DeviceInfo("dev", "Bench", "Europe/Berlin", ()),
        assets=tuple(assets),
        playlists=tuple(playlists),
        schedules=tuple(schedules),
    )


def time_decisions(store: PlayerStore, n: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (this thread) milliseconds per decision."""
    rng = random.Random(7)
    wall_ms, cpu_ms = [], []
    for _ in range(n):
        at = T0 + timedelta(minutes=rng.randrange(7 * 1440))
        start, start_cpu = time.perf_counter(), time.thread_time()
        store.decisions.decide(at)
        cpu_ms.append((time.thread_time() - start_cpu) * 1000)
        wall_ms.append((time.perf_counter() - start) * 1000)
    return wall_ms, cpu_ms


def summary(samples: tuple[list[float], list[float]]) -> str:
    parts = []
    for label, values in zip(("wall", "cpu"), samples, strict=True):
        q = statistics.quantiles(values, n=100)
        parts.append(f"{label} p50 {q[49]:.3f} p99 {q[98]:.3f} ms")
    return "  ".join(parts)


def run(n_assets: int, n_decisions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = PlayerStore.open(Path(tmp) / "bench.db")
        try:
            manifest = build_manifest(n_assets)
            start = time.perf_counter()
            store.catalogue.apply_manifest(manifest)
            apply_s = time.perf_counter() - start
            # Seed the cache index in one statement (the download manager would
            # call mark_file_verified per file; that is not what we time).
            with store.db.write() as conn:
                conn.execute(
                    text(
                        "INSERT INTO files (sha256, size_bytes, present, verified_at) "
                        "SELECT DISTINCT sha256, size_bytes, 1, :at FROM assets"
                    ),
                    {"at": to_micros(T0)},
                )
            fresh = time_decisions(store, n_decisions)
            with store.db.write() as conn:
                conn.execute(
                    text(
                        "INSERT INTO rotation (playlist_id, position, asset_id, last_played_at) "
                        "SELECT playlist_id, position, asset_id, :base + position * 1000000 "
                        "FROM playlist_items"
                    ),
                    {"base": to_micros(T0 - timedelta(days=30))},
                )
            rotated = time_decisions(store, n_decisions)
        finally:
            store.close()
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n_assets:>7} assets  apply {apply_s:6.2f} s")
    print(f"         fresh    {summary(fresh)}")
    print(f"         rotated  {summary(rotated)}")
    print(f"         peak RSS so far {peak_rss_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    for size in args.sizes:
        run(size, args.decisions)


if __name__ == "__main__":
    main()
