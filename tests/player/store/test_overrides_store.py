"""Overrides in the player store: kept through manifests, closure, decisions, decoding."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from lomuz_rules.model import Override, TargetKind, Tier
from player.core.model import Deleted
from player.errors import ManifestError
from player.store import PlayerStore
from player.store.read_only import StoreReader
from player.wire import decode_manifest
from tests.player.core.builders import T0, asset, manifest, playlist, schedule

SALE = Override("ovr-1", "p-sale", TargetKind.GROUP, T0 + timedelta(hours=1), T0)
ASSETS = [asset("a-day"), asset("a-sale")]
PLAYLISTS = [playlist("p-day", "a-day"), playlist("p-sale", "a-sale")]
SCHEDULES = [schedule("s-day", "p-day")]


def _ready(store: PlayerStore) -> None:
    store.catalogue.apply_manifest(manifest(ASSETS, PLAYLISTS, SCHEDULES, overrides=[SALE]))
    for a in ASSETS:
        store.files.mark_file_verified(a.sha256, a.size_bytes, T0)


def test_an_override_keeps_its_playlist_and_plays_above_the_schedule(
    store: PlayerStore, db_path: Path
) -> None:
    _ready(store)
    assert store.catalogue.all_overrides() == [SALE]
    assert {p.id for p in store.catalogue.all_playlists()} == {"p-day", "p-sale"}
    during = store.decisions.decide(T0 + timedelta(minutes=1))
    assert (during.tier, during.playlist_id, during.schedule_id) == (
        Tier.OVERRIDE,
        "p-sale",
        None,
    )
    assert during.next_boundary_at == SALE.until
    after = store.decisions.decide(SALE.until)
    assert (after.tier, after.schedule_id) == (Tier.PLAYLIST, "s-day")
    with StoreReader.open(db_path) as reader:  # lomuz-player next's path
        assert reader is not None
        assert reader.decide(T0 + timedelta(minutes=1)) == during
        assert reader.decide(SALE.until) == after


def test_override_plays_advance_its_rotation(store: PlayerStore) -> None:
    two = playlist("p-sale", "a-sale", "a-day")
    store.catalogue.apply_manifest(
        manifest(ASSETS, [PLAYLISTS[0], two], SCHEDULES, overrides=[SALE])
    )
    for a in ASSETS:
        store.files.mark_file_verified(a.sha256, a.size_bytes, T0)
    seen = []
    at = T0 + timedelta(minutes=1)
    for _ in range(4):
        decision = store.decisions.decide(at)
        assert decision.tier is Tier.OVERRIDE
        assert decision.asset_id is not None and decision.sha256 is not None
        store.rotation.mark_started(
            asset_id=decision.asset_id,
            sha256=decision.sha256,
            source=decision.tier,
            started_at=at,
            playlist_id=decision.playlist_id,
            playlist_position=decision.playlist_position,
        )
        seen.append(decision.playlist_position)
        at += timedelta(seconds=10)
    assert seen == [0, 1, 0, 1]


def test_a_deleted_override_takes_its_playlist_and_media_with_it(store: PlayerStore) -> None:
    _ready(store)
    result = store.catalogue.apply_manifest(
        manifest(full=False, cursor="c2", deleted=Deleted(overrides=("ovr-1",)))
    )
    assert (result.overrides_removed, result.playlists_removed, result.assets_removed) == (1, 1, 1)
    assert store.catalogue.all_overrides() == []
    assert {p.id for p in store.catalogue.all_playlists()} == {"p-day"}
    assert store.decisions.decide(T0 + timedelta(minutes=1)).tier is Tier.PLAYLIST


def test_an_override_of_a_playlist_the_device_lacks_is_refused_whole(store: PlayerStore) -> None:
    _ready(store)
    stray = Override("ovr-2", "p-nowhere", TargetKind.ALL, T0 + timedelta(hours=1), T0)
    with pytest.raises(ManifestError, match="override 'ovr-2' refers to playlist 'p-nowhere'"):
        store.catalogue.apply_manifest(manifest(full=False, cursor="c3", overrides=[stray]))
    assert store.catalogue.all_overrides() == [SALE]


def test_a_manifest_from_a_server_without_overrides_decodes_to_none() -> None:
    doc = {
        "schema": 1,
        "cursor": "c1",
        "full": True,
        "server_time": "2026-12-01T09:00:00Z",
        "sync_interval_s": 600,
        "device": {"id": "d", "timezone": "UTC"},
        "assets": [],
        "playlists": [],
        "schedules": [],
        "deleted": {"assets": [], "playlists": [], "schedules": []},
    }
    decoded = decode_manifest(json.dumps(doc).encode())
    assert decoded.overrides == ()
    assert decoded.deleted.overrides == ()


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ({"id": "o"}, "overrides[0]", "playlist_id"),
        (
            {"id": "o", "playlist_id": "p", "target": "all", "until": 5, "created_at": "x"},
            "overrides[0].until",
            "",
        ),
        (
            {
                "id": "o",
                "playlist_id": "p",
                "target": "all",
                "until": "2026-12-01T09:00:00",
                "created_at": "2026-12-01T08:00:00Z",
            },
            "overrides[0].until",
            "",
        ),
    ],
)
def test_a_bad_override_names_its_field(
    override: dict[str, object], path: str, message: str
) -> None:
    doc = {
        "schema": 1,
        "cursor": "c1",
        "full": False,
        "server_time": "2026-12-01T09:00:00Z",
        "sync_interval_s": 600,
        "device": {"id": "d"},
        "overrides": [override],
    }
    with pytest.raises(ManifestError) as caught:
        decode_manifest(json.dumps(doc).encode())
    assert caught.value.path is not None and caught.value.path.startswith(path), caught.value
    assert message in str(caught.value)
