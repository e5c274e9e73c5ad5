"""The panel's pages on a 5,000-device, 50,000-asset tenant, in process.

Usage: .venv/bin/python scripts/bench/bench_panel.py [--runs N] [--postgres URL] [--only TEXT]
SQLite in a temp dir (or a throwaway schema of the PostgreSQL at URL). The
tenant is bulk-inserted (this script only): 50,000 assets, 40 playlists of 100
items, 60 schedules (all / 10 groups / 10 devices), 5,000 devices (4,000 seen,
3,000 of them online, each with a full telemetry report), 20 plays per device.
A director signs in through /login; each page is fetched through
falcon.testing: p50 / p95 server-side over N runs. Target: every page < 300 ms.
--plays N adds N plays over the last 30 days for the Plays pages (default 1,000,000);
--only devices|plays times one section's pages.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from control_api.store import models
from control_api.store.plays import day_tallies
from control_api.store.repository import encode_after
from tests.control_api.panel.conftest import Browser, Clock, Panel, make_panel_api

DEVICES = 5_000
ASSETS = 50_000
GROUPS = [f"region-{i}" for i in range(10)]
PLAYS_PER_DEVICE = 20
CHUNK = 2_000


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


class Tallies:
    """The per-day rollups of the bulk-inserted plays (ingest keeps them in the
    service; this script inserts plays around it), summed chunk by chunk."""

    def __init__(self) -> None:
        self.rows: dict[Any, dict[tuple[Any, ...], dict[str, Any]]] = {}

    def add(self, plays: list[dict[str, Any]]) -> None:
        for table, rows in day_tallies(plays).items():
            keys = [c.name for c in table.__table__.primary_key]
            summed = self.rows.setdefault(table, {})
            for row in rows:
                key = tuple(row[k] for k in keys)
                if key in summed:
                    summed[key]["plays"] += row["plays"]
                    summed[key]["played_ms"] += row["played_ms"]
                else:
                    summed[key] = dict(row)

    def insert(self, panel: Panel) -> None:
        with panel.db.write() as s:
            for table, summed in self.rows.items():
                for chunk in _chunks(list(summed.values())):
                    s.execute(insert(table), chunk)
        if panel.db.engine.dialect.name == "postgresql":
            # What autovacuum does soon after a server's bulk load (and migration
            # 0010 after its backfill): without statistics the planner takes the
            # rollups for empty and sorts a month of rows on disk.
            with panel.db.write() as s:
                s.execute(text("ANALYZE play_days, play_days_assets, play_days_devices"))


def _status(asset_id: str, now: datetime, i: int) -> dict[str, Any]:
    return {
        "at": now.isoformat(),
        "versions": {"player": "1.4.0", "libvlc": "3.0.21"},
        "now_playing": {"state": "playing", "tier": "playlist", "asset_id": asset_id},
        "last_sync_ok_at": (now - timedelta(minutes=i % 90)).isoformat(),
        "last_sync_error": None,
        "cache": {"files": 1500, "size_bytes": 9_800_000_000},
        "storage_full": False,
        "clock": {"trusted": i % 17 != 0, "offset_s": 0.02},
        "downloads": {"pending": i % 5, "failing": [{"sha256": "x"}] if i % 41 == 0 else []},
        "system": {
            "disk_percent": 40 + i % 55,
            "temperature_c": 45 + i % 40,
            "throttled_now": i % 29 == 0,
            "under_voltage_now": False,
        },
    }


def build_tenant(panel: Panel, now: datetime, tallies: Tallies) -> tuple[str, list[str]]:
    """The tenant (bulk inserts); returns its id and its device ids."""
    tenant_id, _ = panel.tenant("bench")
    asset_ids = [f"ast_{i:06d}" for i in range(ASSETS)]
    assets = [
        {"id": a, "tenant_id": tenant_id, "sha256": hashlib.sha256(a.encode()).hexdigest(),
         "size_bytes": 5_000_000, "media_type": "audio", "content_type": "audio/mpeg",
         "filename": f"{a}.mp3", "title": f"Song {i}", "duration_ms": 180_000,
         "emergency": i < 3, "created_at": now, "updated_at": now}
        for i, a in enumerate(asset_ids)
    ]  # fmt: skip
    playlists = [
        {"id": f"pl_{p:03d}", "tenant_id": tenant_id, "name": f"Playlist {p}", "version": 1,
         "created_at": now, "updated_at": now}
        for p in range(40)
    ]  # fmt: skip
    items = [{"playlist_id": f"pl_{p:03d}", "position": k, "asset_id": asset_ids[p * 100 + k],
              "duration_ms": None} for p in range(40) for k in range(100)]  # fmt: skip
    device_ids = [f"dev_{i:05d}" for i in range(DEVICES)]
    schedules = []
    for k in range(60):
        kind, value = (
            ("all", "")
            if k < 10
            else ("group", GROUPS[k % 10])
            if k < 50
            else ("device", device_ids[k])
        )
        schedules.append({
            "id": f"sch_{k:03d}", "tenant_id": tenant_id, "playlist_id": f"pl_{k % 40:03d}",
            "target_kind": kind, "target_value": value, "priority": k % 5,
            "days": [1 + (k % 7), 1 + ((k + 2) % 7), 1 + ((k + 4) % 7)],
            "start_time": f"{6 + k % 12:02d}:00", "end_time": f"{12 + k % 12:02d}:30",
            "version": 1, "created_at": now - timedelta(seconds=k), "updated_at": now,
        })  # fmt: skip
    devices = []
    for i, d in enumerate(device_ids):
        seen = None if i % 5 == 4 else now - timedelta(seconds=30 if i % 4 else 7200 + i)
        devices.append({
            "id": d, "tenant_id": tenant_id, "name": f"Shop {i:04d} till {i % 3}",
            "timezone": "Europe/Paris", "groups": [GROUPS[i % 10]],
            "token_hash": None if seen is None else secrets.token_hex(32),
            "code_hash": None, "code_expires_at": None, "last_seen_at": seen,
            "status": None if seen is None else _status(asset_ids[i % 4000], now, i),
            "hardware": {"model": "Raspberry Pi 4"}, "created_at": now, "updated_at": now,
        })  # fmt: skip
    plays = [
        {"tenant_id": tenant_id, "id": str(uuid.UUID(int=i * PLAYS_PER_DEVICE + j)),
         "device_id": d, "asset_id": asset_ids[(i + j) % 4000],
         "sha256": assets[(i + j) % 4000]["sha256"],
         "started_at": now - timedelta(minutes=3 * (j + 1)),
         "ended_at": now - timedelta(minutes=3 * j), "source": "playlist",
         "outcome": "completed", "schedule_id": None, "playlist_id": None, "received_at": now}
        for i, d in enumerate(device_ids) if i % 5 != 4 for j in range(PLAYS_PER_DEVICE)
    ]  # fmt: skip
    with panel.db.write() as s:
        tables: list[tuple[type[models.Base], list[dict[str, Any]]]] = [
            (models.Asset, assets), (models.Playlist, playlists),
            (models.PlaylistItem, items), (models.Device, devices),
            (models.Schedule, schedules), (models.Play, plays),
        ]  # fmt: skip
        for table, rows in tables:
            for chunk in _chunks(rows):
                s.execute(insert(table), chunk)
    tallies.add(plays)
    return tenant_id, device_ids


PLAYS_DAYS = 30


def build_plays(
    panel: Panel,
    tenant_id: str,
    device_ids: list[str],
    now: datetime,
    count: int,
    *,
    tallies: Tallies,
) -> None:
    """``count`` more plays spread over the last :data:`PLAYS_DAYS` days (the Plays pages)."""
    span_s = PLAYS_DAYS * 86_400
    asset_ids = [f"ast_{i:06d}" for i in range(4000)]
    sha = {a: hashlib.sha256(a.encode()).hexdigest() for a in asset_ids}
    base = len(device_ids) * PLAYS_PER_DEVICE
    with panel.db.write() as s:
        for start in range(0, count, 20_000):
            rows = []
            for n in range(start, min(count, start + 20_000)):
                at = now - timedelta(seconds=(n * 7919) % span_s)
                asset = asset_ids[(n * 31) % len(asset_ids)]
                rows.append({
                    "tenant_id": tenant_id, "id": str(uuid.UUID(int=base + n)),
                    "device_id": device_ids[n % len(device_ids)], "asset_id": asset,
                    "sha256": sha[asset], "started_at": at, "ended_at": at + timedelta(minutes=3),
                    "source": "playlist", "outcome": "completed", "schedule_id": None,
                    "playlist_id": None, "received_at": now,
                })  # fmt: skip
            s.execute(insert(models.Play), rows)
            tallies.add(rows)


def plays_pages(now: datetime) -> dict[str, str]:
    today = now.date().isoformat()
    month_ago = (now.date() - timedelta(days=PLAYS_DAYS - 1)).isoformat()
    return {
        "GET /plays (the last 7 days)": "/plays",
        f"GET /plays ({PLAYS_DAYS} days)": f"/plays?from={month_ago}&to={today}",
        "GET /plays (one day)": f"/plays?from={today}&to={today}",
    }


def time_plays_csv(browser: Browser, now: datetime) -> None:
    """The whole 30-day export once, streamed (its time is the download's, not a page's)."""
    url = plays_pages(now)[f"GET /plays ({PLAYS_DAYS} days)"].replace("/plays?", "/plays.csv?")
    started = time.perf_counter()
    size = len(browser.get(url).content)
    elapsed_s = time.perf_counter() - started
    label = f"GET /plays.csv ({PLAYS_DAYS} days, whole file)"
    print(f"{label:58} {elapsed_s * 1000:8.0f} ms total {size:12,} bytes")


def timed(fetch: Callable[[], Any], runs: int) -> tuple[float, float, int]:
    samples = []
    status = 0
    for _ in range(runs):
        start = time.perf_counter()
        answer = fetch()
        samples.append(time.perf_counter() - start)
        status = answer.status_code
        assert status == 200, (status, answer.text[:500])
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return statistics.median(samples) * 1000, p95 * 1000, len(answer.content)


def last_page_url(browser: Browser, first: str) -> str:
    url, pages = first, 0
    while True:
        page = browser.get(url)
        marker = 'rel="next" href="'
        at = page.text.find(marker)
        if at < 0:
            print(f"  ({pages + 1} pages of 50)")
            return url
        url = page.text[at + len(marker) : page.text.index('"', at + len(marker))].replace(
            "&amp;", "&"
        )
        pages += 1


def media_pages() -> dict[str, str]:
    """The Media section's pages (issue 12): ``ast_000000`` is in playlist ``pl_000``."""
    last = encode_after(f"ast_{ASSETS - 11:06d}")
    return {
        "GET /media (first page)": "/media",
        "GET /media?q=song 4999 (11 matches, scans)": "/media?q=song+4999",
        "GET /media?q=nothing (no match, whole library)": "/media?q=nothing",
        "GET /media (last page)": f"/media?after={last}",
        "GET /media (htmx table only)": "/media?q=song",
        "GET /media/{id}": "/media/ast_000123",
        "POST /media/{id}/delete (the step naming playlists)": "/media/ast_000000/delete",
    }


def _another(browser: Browser, device_ids: Iterator[str]) -> Any:
    return browser.get(f"/devices/{next(device_ids)}")


@contextmanager
def database(postgres_url: str | None) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"LOMUZ_MEDIA_DIR": f"{tmp}/m"}
        if postgres_url is None:
            yield {**env, "LOMUZ_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
            return
        schema = f"bench_{secrets.token_hex(4)}"
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in postgres_url else "?"
        try:
            yield {
                **env,
                "LOMUZ_DATABASE_URL": f"{postgres_url}{sep}options=-csearch_path%3D{schema}",
            }
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL URL (else SQLite)")
    parser.add_argument("--plays", type=int, default=1_000_000, help="plays over 30 days")
    parser.add_argument("--only", default="", help="only the pages whose label contains this")
    args = parser.parse_args()
    clock = Clock()
    with database(args.postgres) as env:
        for api in make_panel_api(env, clock):
            panel = Panel(api, clock)
            started = time.perf_counter()
            tallies = Tallies()
            tenant_id, device_ids = build_tenant(panel, clock.now(), tallies)
            if not args.only or "plays" in args.only:
                build_plays(panel, tenant_id, device_ids, clock.now(), args.plays, tallies=tallies)
            tallies.insert(panel)
            print(f"built the tenant in {time.perf_counter() - started:.1f} s")
            browser = panel.signed_in("viewer", tenant_id)
            pages = {
                "GET /devices (first page, by name)": "/devices",
                "GET /devices?state=online&group=region-3&q=till 1": (
                    "/devices?state=online&group=region-3&q=till+1"
                ),
                "GET /devices?q=shop 12 (name only)": "/devices?q=shop+12",
                "GET /devices?sort=last_seen": "/devices?sort=last_seen",
                "GET /devices?sort=state": "/devices?sort=state",
                "GET /devices?state=never": "/devices?state=never",
                "GET /devices (last page, by name)": last_page_url(browser, "/devices"),
                "GET /devices?sort=last_seen (last page)": last_page_url(
                    browser, "/devices?sort=last_seen"
                ),
                "GET /devices/{id} (schedules by device and group)": f"/devices/{device_ids[50]}",
                "GET /devices/{id}?at=... (another week)": (
                    f"/devices/{device_ids[1]}?at=2027-03-28T02:30"
                ),
                "GET /devices (htmx table only)": "/devices?sort=name",
                "GET /schedules (first page, viewer)": "/schedules",
                "GET /schedules (last page, viewer)": last_page_url(browser, "/schedules"),
                "GET /schedules/week?group=region-3": "/schedules/week?group=region-3",
                "GET /schedules/week?device=... (another week)": (
                    f"/schedules/week?device={device_ids[50]}&week=2027-03-28"
                ),
                "GET /schedules (with the form: editor)": "/schedules",
                "GET /schedules/{id} (the edit form: editor)": "/schedules/sch_020",
                "GET /playlists (40 playlists of 100 items)": "/playlists",
                "GET /playlists/{id} (the editor, 100 items)": "/playlists/pl_000",
                "GET /playlists/{id}/library?q=song 4999 (htmx)": (
                    "/playlists/pl_000/library?q=song+4999"
                ),
                "GET /playlists/{id}/library?q=no such (htmx, no match)": (
                    "/playlists/pl_000/library?q=no+such"
                ),
            }
            pages |= media_pages() | plays_pages(clock.now())
            pages = {label: url for label, url in pages.items() if args.only in label}
            editor = panel.signed_in("editor", tenant_id)
            print(f"{'page':58} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>9}")
            worst = 0.0
            for label, url in pages.items():
                headers = {"HX-Request": "true"} if "htmx" in label else {}
                who = editor if "editor" in label else browser
                fetch = functools.partial(who.get, url, headers=headers)
                if label.startswith("POST"):
                    fetch = functools.partial(editor.post, url)
                p50, p95, size = timed(fetch, args.runs)
                worst = max(worst, p95)
                print(f"{label:58} {p50:8.1f} {p95:8.1f} {size:9,}")
            if args.only in "GET /plays.csv":
                time_plays_csv(browser, clock.now())
            if args.only and args.only not in "GET /devices/{id} (another device each run)":
                print(f"worst p95: {worst:.1f} ms (target < 300 ms)")
                return 0
            # Each run another device (its own schedules): no warm per-day edges of its own.
            label = "GET /devices/{id} (another device each run)"
            if not args.only or args.only in label:
                others = iter(device_ids[51:60] + device_ids[100 : 100 + args.runs])
                p50, p95, size = timed(functools.partial(_another, browser, others), args.runs)
                worst = max(worst, p95)
                print(f"{label:58} {p50:8.1f} {p95:8.1f} {size:9,}")
            print(f"worst p95: {worst:.1f} ms (target < 300 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
