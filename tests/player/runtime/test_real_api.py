"""Syncer, download manager and telemetry against the real control API on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lomuz_rules.model import Tier
from player.adapters.clock import SystemClock
from player.adapters.fetcher import Fetcher
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.adapters.retry import TenacityRetrier
from player.core.model import Outcome, Play
from player.runtime.downloads import DownloadManager
from player.runtime.syncer import SYNC_RETRY, Syncer
from player.runtime.telemetry import TelemetryUploader
from player.store.repository import PlayerStore
from tests.player.runtime.helpers import T0, content
from tests.player.runtime.realapi import RealApi, real_api

MakeClient = Callable[..., ControlApiClient]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[RealApi]:
    with real_api(tmp_path) as served:
        yield served


def test_sync_full_delta_not_modified_and_download(
    api: RealApi, store: PlayerStore, cache: MediaCache, api_client: MakeClient
) -> None:
    song = api.upload(content("song", 5000))
    sos = api.upload(content("sos", 3000), emergency=True)
    playlist = api.call(
        "POST", "/v1/playlists", json={"name": "day", "items": [{"asset_id": song["id"]}]}
    )
    api.call("POST", "/v1/schedules", json={"playlist_id": playlist["id"], "target": {"all": True}})
    _, token = api.device()
    client = api_client(api.url, token)
    syncer = Syncer(
        store.catalogue,
        store.state,
        client,
        SystemClock(),
        retry=TenacityRetrier(SYNC_RETRY, sleep=lambda _s: None),
    )

    first = syncer.sync_once()
    assert first.changed and first.full
    assert {a.id for a in store.catalogue.all_assets()} == {song["id"], sos["id"]}
    assert store.state.cursor() == first.cursor

    extra = api.upload(content("extra", 2000))
    api.call(
        "PUT",
        f"/v1/playlists/{playlist['id']}",
        json={"name": "day", "items": [{"asset_id": song["id"]}, {"asset_id": extra["id"]}]},
    )
    second = syncer.sync_once()
    assert second.changed and not second.full
    assert second.cursor != first.cursor
    items = store.catalogue.all_playlists()[0].items
    assert [i.asset_id for i in items] == [song["id"], extra["id"]]

    third = syncer.sync_once()
    assert not third.changed
    assert store.state.cursor() == second.cursor

    manager = DownloadManager(
        store.catalogue, store.files, cache, Fetcher(client, cache), SystemClock(), concurrency=2
    )
    manager.start()
    try:
        assert manager.wait_idle(20)
    finally:
        manager.stop()
    assert manager.status().failing == ()
    assert {e.sha256 for e in cache.list_files()} == {
        song["sha256"],
        sos["sha256"],
        extra["sha256"],
    }
    for asset in (song, sos, extra):
        assert cache.verify(asset["sha256"])


def plays(n: int, asset: dict[str, Any]) -> list[Play]:
    return [
        Play(
            str(uuid.uuid4()),
            asset["id"],
            asset["sha256"],
            T0 + timedelta(minutes=i),
            T0 + timedelta(minutes=i, seconds=30),
            Tier.PLAYLIST,
            Outcome.COMPLETED,
            schedule_id="s",
            playlist_id="p",
        )
        for i in range(n)
    ]


def test_plays_are_idempotent_and_status_reaches_the_device_record(
    api: RealApi, tmp_path: Path, api_client: MakeClient
) -> None:
    device_id, token = api.device()
    batch = plays(5, api.upload(content("song", 3000)))
    status = {"now_playing": None, "cursor": "r1", "probe": "hello"}
    with PlayerStore.open(tmp_path / "a.db") as first_store:
        for p in batch:
            first_store.outbox.record_play(p)
        uploader = TelemetryUploader(
            first_store.outbox, api_client(api.url, token), lambda: status, batch_size=2
        )
        uploader.run_once()
        assert first_store.outbox.pending_plays(10) == []
        assert uploader.uploaded_total == 5
    # The same plays again (a crash after the server's ack, before ours was stored).
    with PlayerStore.open(tmp_path / "b.db") as second_store:
        for p in batch:
            second_store.outbox.record_play(p)
        again = TelemetryUploader(second_store.outbox, api_client(api.url, token), lambda: status)
        assert again.upload_plays() == 5
        assert again.uploaded_total == 0  # every one was a duplicate
    listed = api.call("GET", "/v1/plays", params={"device_id": device_id})
    assert sorted(p["id"] for p in listed["items"]) == sorted(p.id for p in batch)
    device = api.call("GET", f"/v1/devices/{device_id}")
    assert device["status"]["probe"] == "hello"
    assert device["last_seen_at"] is not None


def test_a_play_the_api_refuses_is_set_aside_and_the_rest_uploaded(
    api: RealApi, tmp_path: Path, api_client: MakeClient
) -> None:
    device_id, token = api.device()
    good = plays(3, api.upload(content("song", 3000)))
    fabricated = plays(1, {"id": "ast_never_uploaded", "sha256": "c" * 64})
    with PlayerStore.open(tmp_path / "p.db") as store:
        for p in [*good[:2], *fabricated, good[2]]:
            store.outbox.record_play(p)
        uploader = TelemetryUploader(store.outbox, api_client(api.url, token), dict, batch_size=10)
        assert uploader.upload_plays() == 4
        assert store.outbox.pending_plays(10) == []  # nothing left to block the outbox
        assert uploader.uploaded_total == 3
        assert uploader.refused_total == 1
    listed = api.call("GET", "/v1/plays", params={"device_id": device_id})
    assert sorted(p["id"] for p in listed["items"]) == sorted(p.id for p in good)
