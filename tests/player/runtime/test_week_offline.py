"""A week with the network down writes a handful of log lines, not thousands.

SD cards die from log volume: every background service logs transitions
(failing, recovered), never each retry. This drives the real syncer, download
manager, telemetry uploader and janitor through a simulated week (fake clock)
against an API address that refuses every connection, on the same cadence
the daemon uses, and counts what they log.
"""

from __future__ import annotations

import json
import logging
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from lomuz_rules.model import Tier
from player.adapters.clock import SystemClock
from player.adapters.fetcher import Fetcher
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.adapters.retry import TenacityRetrier
from player.core.backoff import BackoffPolicy, RetryPolicy
from player.core.model import Outcome, Play
from player.errors import ApiUnavailable
from player.runtime.downloads import DownloadManager
from player.runtime.syncer import Syncer
from player.runtime.telemetry import TelemetryUploader
from player.store.repository import PlayerStore
from tests.fakes.clock import FakeClock
from tests.player.runtime.helpers import (
    T0,
    asset_json,
    content,
    decoded,
    manifest_json,
    playlist_json,
    schedule_json,
    store_janitor,
)

WEEK_S = 7 * 24 * 3600
SYNC_EVERY_S = 600
TELEMETRY_EVERY_S = 60
JANITOR_EVERY_S = 300
MAX_LOG_LINES = 12


def refused_url() -> str:
    """A loopback address where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_a_week_offline_logs_a_few_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(T0, real_monotonic=True)
    clock = SystemClock(wall=fake.now, mono=fake.monotonic)
    store = PlayerStore.open(tmp_path / "player.db")
    cache = MediaCache(tmp_path / "media")
    cache.ensure_dirs()
    song, jingle = content("song", 5000), content("alarm", 3000)
    store.catalogue.apply_manifest(
        decoded(
            manifest_json(
                [asset_json("a1", song), asset_json("e1", jingle, emergency=True)],
                [playlist_json("p1", "a1")],
                [schedule_json("s1", "p1")],
            )
        )
    )
    for n in range(30):
        at = fake.now() - timedelta(minutes=n + 1)
        store.outbox.record_play(
            Play(
                f"play-{n}",
                "e1",
                "e" * 64,
                at,
                at + timedelta(seconds=20),
                Tier.EMERGENCY,
                Outcome.COMPLETED,
            )
        )
    client = ControlApiClient(refused_url(), "token")
    syncer = Syncer(
        store.catalogue,
        store.state,
        client,
        clock,
        retry=TenacityRetrier(RetryPolicy(max_attempts=3, max_total_s=30), sleep=lambda _s: None),
    )
    janitor = store_janitor(store, cache, clock)
    downloads = DownloadManager(
        store.catalogue,
        store.files,
        cache,
        Fetcher(client, cache),
        clock,
        concurrency=1,
        backoff=BackoffPolicy(base_delay_s=5.0, max_delay_s=1800.0),
        room_problem=janitor.room_problem,
    )
    telemetry = TelemetryUploader(store.outbox, client, lambda: {"cursor": store.state.cursor()})

    caplog.set_level(logging.INFO, logger="player")
    downloads.start()
    attempts = 0
    try:
        for elapsed_s in range(0, WEEK_S, TELEMETRY_EVERY_S):
            if elapsed_s % SYNC_EVERY_S == 0:
                with pytest.raises(ApiUnavailable):
                    syncer.sync_once()
                downloads.reprioritise()
                assert downloads.wait_idle(10.0)
            if elapsed_s % JANITOR_EVERY_S == 0:
                janitor.run_once()
            telemetry.run_once()
            attempts += 1
            fake.advance(TELEMETRY_EVERY_S)
        status = downloads.status()
    finally:
        downloads.stop()
        client.close()
        store.close()

    lines = [r for r in caplog.records if r.name.startswith("player")]
    text = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in lines)
    assert attempts == WEEK_S // TELEMETRY_EVERY_S
    # The downloads were really tried all week (backing off), not given up.
    assert {f.sha256 for f in status.failing} == _shas(song, jingle)
    assert all(f.failures > 10 for f in status.failing), json.dumps(
        [f.failures for f in status.failing]
    )
    assert len(lines) <= MAX_LOG_LINES, text
    assert sum("failing" in r.getMessage() for r in lines) >= 2, text


def _shas(*bodies: bytes) -> set[str]:
    import hashlib

    return {hashlib.sha256(b).hexdigest() for b in bodies}
