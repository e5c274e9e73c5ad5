"""A push nudge's burst: devices of one scope share one computed manifest, and a device
targeted by id (now, or at its cursor) still gets its own.

The services called directly on a real database (SQLite, and PostgreSQL when
LOMUZ_TEST_POSTGRES_URL is set). Every answer is compared with the one computed for
the device alone (no cache); tests/control_api/test_delta_convergence.py checks the
same through HTTP over generated edit histories, with two devices sharing a scope.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from control_api.manifest_cache import ManifestCache
from control_api.media import LocalMediaStore
from control_api.revisions import RevisionCache
from control_api.services import assets, devices, manifest, playlists, schedules
from control_api.services.manifest import Planned, Snapshot
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.media_samples import wav

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
KEEP = 1000


@pytest.fixture
def tenant(db: Database) -> str:
    with db.write() as s:
        tenant_id, _ = repo.create_tenant(s, "shop", NOW)
    return tenant_id


def _asset(db: Database, tmp_path: Path, tenant: str, data: bytes) -> str:
    uploaded = assets.upload(
        db,
        LocalMediaStore(tmp_path / "media"),
        tenant,
        assets.upload_kind("audio/wav"),
        assets.AssetFields(title="song"),
        body=lambda: (io.BytesIO(wav(data)), len(wav(data))),
        now=NOW,
        limits=assets.UploadLimits(max_upload_bytes=100_000, quota_bytes=0),
        keep_revisions=KEEP,
    )
    return uploaded.asset.id


def _playlist(db: Database, tenant: str, name: str, asset_id: str) -> str:
    created = playlists.create_playlist(
        db, tenant, name, [(asset_id, None)], now=NOW, keep_revisions=KEEP
    )
    return created.playlist.id


def _schedule(db: Database, tenant: str, playlist_id: str, kind: str, value: str) -> str:
    fields = schedules.ScheduleFields(playlist_id, kind, value)
    return schedules.create_schedule(db, tenant, fields, NOW, KEEP).id


class Fleet:
    """Devices polling through one shared cache, each answer checked against its own."""

    def __init__(self, db: Database, tenant: str) -> None:
        self.db = db
        self.tenant = tenant
        self.shared: ManifestCache[Planned] = ManifestCache(8)
        self.cursors: dict[str, str | None] = {}

    def add(self, name: str, groups: list[str]) -> str:
        box = devices.register_device(
            self.db, self.tenant, name, "UTC", groups, now=NOW, code_ttl_s=60
        )
        self.cursors[box.device.id] = None
        return box.device.id

    def _poll(self, device_id: str, shared: ManifestCache[Planned] | None) -> Snapshot:
        since = self.cursors[device_id]
        scope = since.split(".", 1)[1] if since else ""
        answer = manifest.poll(
            self.db,
            RevisionCache(0),
            self.tenant,
            device_id,
            scope,
            since=since,
            now=NOW,
            shared=shared,
        )
        assert isinstance(answer, Snapshot)
        return answer

    def sync(self, device_id: str) -> Snapshot:
        got = self._poll(device_id, self.shared)
        assert _ids(got) == _ids(self._poll(device_id, None)), "the shared answer is not its own"
        self.cursors[device_id] = got.cursor
        return got


def _ids(snap: Snapshot) -> dict[str, Any]:
    return {
        "full": snap.full,
        "cursor": snap.cursor,
        "device": snap.device.id,
        "assets": sorted(a.id for a in snap.assets),
        "playlists": sorted(p.playlist.id for p in snap.playlists),
        "schedules": sorted(s.id for s in snap.schedules),
        "deleted": (snap.deleted_assets, snap.deleted_playlists, snap.deleted_schedules),
    }


def test_a_scope_shares_one_plan_and_a_device_targeted_by_id_gets_its_own(
    db: Database, tmp_path: Path, tenant: str
) -> None:
    song = _asset(db, tmp_path, tenant, b"song")
    solo = _asset(db, tmp_path, tenant, b"solo")
    day = _playlist(db, tenant, "day", song)
    own = _playlist(db, tenant, "own", solo)
    north = _schedule(db, tenant, day, "group", "north")
    fleet = Fleet(db, tenant)
    first, second, targeted = (fleet.add(f"box{i}", ["north"]) for i in range(3))
    own_schedule = _schedule(db, tenant, own, "device", targeted)

    full = [fleet.sync(d) for d in (first, second, targeted)]
    assert [s.shared for s in full] == [True, True, False]
    assert full[0].assets is full[1].assets  # computed once, served twice
    assert [s.device.id for s in full] == [first, second, targeted]
    assert {x.id for x in full[2].schedules} == {north, own_schedule}
    assert {x.id for x in full[0].schedules} == {north}
    assert len(fleet.shared) == 1

    # One edit seen by all three: one delta for the scope, the targeted box's own.
    schedules.replace_schedule(
        db,
        tenant,
        north,
        schedules.ScheduleFields(day, "group", "north", priority=5),
        if_match=None,
        now=NOW,
        keep_revisions=KEEP,
    )
    delta = [fleet.sync(d) for d in (first, second, targeted)]
    assert [(s.full, s.shared) for s in delta] == [(False, True), (False, True), (False, False)]
    assert [[x.id for x in s.schedules] for s in delta] == [[north]] * 3
    assert len(fleet.shared) == 2

    # The box's own schedule goes: its delta deletes it, though nothing targets it now.
    schedules.delete_schedule(db, tenant, own_schedule, if_match=None, keep_revisions=KEEP)
    gone = [fleet.sync(d) for d in (first, second, targeted)]
    assert [s.shared for s in gone] == [True, True, False]
    assert [list(s.deleted_schedules) for s in gone] == [[], [], [own_schedule]]

    # Nothing targets it any more and no change since its cursor did: it shares again.
    playlists.replace_playlist(
        db, tenant, day, "day, renamed", [(song, None)], if_match=None, now=NOW, keep_revisions=KEEP
    )
    renamed = [fleet.sync(d) for d in (first, second, targeted)]
    assert [s.shared for s in renamed] == [True, True, True]
    assert [[p.playlist.id for p in s.playlists] for s in renamed] == [[day]] * 3


def test_each_scope_has_its_own_entry(db: Database, tmp_path: Path, tenant: str) -> None:
    song = _asset(db, tmp_path, tenant, b"song")
    day = _playlist(db, tenant, "day", song)
    _schedule(db, tenant, day, "group", "north")
    fleet = Fleet(db, tenant)
    north, also_north, south = (
        fleet.add(n, [g]) for n, g in (("a", "north"), ("b", "north"), ("c", "south"))
    )
    got = {d: fleet.sync(d) for d in (north, also_north, south)}
    assert {d: [p.playlist.id for p in s.playlists] for d, s in got.items()} == {
        north: [day],
        also_north: [day],
        south: [],
    }
    assert all(s.shared for s in got.values())
    assert len(fleet.shared) == 2


def test_a_disabled_cache_computes_every_answer(db: Database, tmp_path: Path, tenant: str) -> None:
    song = _asset(db, tmp_path, tenant, b"song")
    _schedule(db, tenant, _playlist(db, tenant, "day", song), "all", "")
    fleet = Fleet(db, tenant)
    fleet.shared = ManifestCache(0)
    boxes = [fleet.add(f"b{i}", []) for i in range(2)]
    answers = [fleet.sync(b) for b in boxes]
    assert [a.shared for a in answers] == [True, True]  # the scope's plan, just not kept
    assert answers[0].assets is not answers[1].assets
    assert len(fleet.shared) == 0
