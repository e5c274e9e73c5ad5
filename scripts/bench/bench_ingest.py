"""The write side of proof of play: one device's batch of 500 plays, ingested.

Usage: PYTHONPATH=. .venv/bin/python scripts/bench/bench_ingest.py [--runs N]
       [--plays N] [--batch N] [--postgres URL]
SQLite in a temp dir (or a throwaway schema of the PostgreSQL at URL). The
database is migrated to 0009, filled with ``--plays`` plays (bulk inserts, over
30 days, 5,000 devices, 4,000 assets) and migrated to the head, so a tree with
per-day rollups (0010) backfills them as an upgraded server would. Then, each
run, one device sends a batch of new plays (its last hours: ~200 assets over a
day and a half), and the same batch again (every play a duplicate), through
``services.plays.ingest`` — parsing, the asset check, the inserts, the commit.
The script imports the tree on PYTHONPATH: point it at another checkout to
time that one's code with the same load.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert, text

from control_api.services import plays
from control_api.store import models
from control_api.store import repository as repo
from control_api.store.db import MIGRATIONS_DIR, Database

DEVICES = 5_000
ASSETS = 4_000
DAYS = 30
CHUNK = 20_000
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _sha(asset_id: str) -> str:
    return hashlib.sha256(asset_id.encode()).hexdigest()


def _migrate(db: Database, revision: str) -> None:
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def build(db: Database, count: int) -> str:
    """A tenant with its assets and ``count`` plays; returns the tenant's id."""
    _migrate(db, "0009")
    with db.write() as s:
        tenant_id, _ = repo.create_tenant(s, "bench", NOW)
        s.flush()
        assets = [
            {"id": f"ast_{i:06d}", "tenant_id": tenant_id, "sha256": _sha(f"ast_{i:06d}"),
             "size_bytes": 5_000_000, "media_type": "audio", "content_type": "audio/mpeg",
             "filename": f"ast_{i:06d}.mp3", "title": f"Song {i}", "emergency": False,
             "created_at": NOW, "updated_at": NOW}
            for i in range(ASSETS)
        ]  # fmt: skip
        s.execute(insert(models.Asset), assets)
    span_s = DAYS * 86_400
    for start in range(0, count, CHUNK):
        rows = []
        for n in range(start, min(count, start + CHUNK)):
            at = NOW - timedelta(seconds=(n * 7919) % span_s)
            asset_id = f"ast_{(n * 31) % ASSETS:06d}"
            rows.append({
                "tenant_id": tenant_id, "id": str(uuid.UUID(int=n)),
                "device_id": f"dev_{n % DEVICES:05d}", "asset_id": asset_id,
                "sha256": _sha(asset_id), "started_at": at, "ended_at": at + timedelta(minutes=3),
                "source": "playlist", "outcome": "completed", "schedule_id": None,
                "playlist_id": None, "received_at": NOW,
            })  # fmt: skip
        with db.write() as s:
            s.execute(insert(models.Play), rows)
    started = time.perf_counter()
    _migrate(db, "heads")
    print(f"migrated 0009 -> head over them in {time.perf_counter() - started:.1f} s")
    return tenant_id


def batch(run: int, size: int) -> tuple[str, list[dict[str, Any]]]:
    """Run ``run``'s device and its ``size`` new plays, 3 minutes apart, as sent."""
    device_id = f"dev_{run % DEVICES:05d}"
    sent = []
    for k in range(size):
        started_at = NOW - timedelta(minutes=3 * (k + 1))
        asset_id = f"ast_{(run * 7 + k) % 200:06d}"
        sent.append({
            "id": str(uuid.UUID(int=(1 << 100) + run * 10_000 + k)), "asset_id": asset_id,
            "sha256": _sha(asset_id), "started_at": started_at.isoformat(),
            "ended_at": (started_at + timedelta(minutes=3)).isoformat(),
            "source": "playlist", "outcome": "completed",
        })  # fmt: skip
    return device_id, sent


@contextmanager
def database(postgres_url: str | None) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        if postgres_url is None:
            yield f"sqlite:///{tmp}/bench.db"
            return
        schema = f"bench_{secrets.token_hex(4)}"
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in postgres_url else "?"
        try:
            yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def _line(label: str, samples: list[float]) -> None:
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    print(f"{label:44} {statistics.median(samples) * 1000:8.1f} {p95 * 1000:8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--plays", type=int, default=1_000_000, help="plays stored before")
    parser.add_argument("--batch", type=int, default=500, help="plays per batch")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL URL (else SQLite)")
    args = parser.parse_args()
    with database(args.postgres) as url:
        db = Database(url)
        try:
            started = time.perf_counter()
            tenant_id = build(db, args.plays)
            print(f"stored {args.plays:,} plays in {time.perf_counter() - started:.1f} s")
            fresh, again = [], []
            for run in range(args.runs):
                device_id, sent = batch(run, args.batch)
                for samples, expected in ((fresh, args.batch), (again, 0)):
                    start = time.perf_counter()
                    answer = plays.ingest(db, tenant_id, device_id, sent, NOW)
                    samples.append(time.perf_counter() - start)
                    assert answer.accepted == expected and not answer.rejected, answer
            print(f"{'ingest (services.plays.ingest)':44} {'p50 ms':>8} {'p95 ms':>8}")
            _line(f"a batch of {args.batch} new plays", fresh)
            _line(f"the same batch again ({args.batch} duplicates)", again)
        finally:
            db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
