"""The use cases called directly, as the director web panel will: no HTTP, no Falcon,
a real database (SQLite, and PostgreSQL when LOMUZ_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from control_api.errors import (
    BadEnrollmentCode,
    Conflict,
    InvalidField,
    QuotaExceeded,
    RateLimited,
    VersionMismatch,
)
from control_api.media import LocalMediaStore
from control_api.revisions import RevisionCache
from control_api.services import (
    assets,
    devices,
    enrollment,
    manifest,
    playlists,
    plays,
    schedules,
)
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.media_samples import wav

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEEP = 1000
LIMITS = assets.UploadLimits(max_upload_bytes=100_000, quota_bytes=0)


@pytest.fixture
def media(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


@pytest.fixture
def tenant(db: Database) -> str:
    with db.write() as s:
        tenant_id, _ = repo.create_tenant(s, "shop", NOW)
    return tenant_id


def _upload(
    db: Database,
    media: LocalMediaStore,
    tenant_id: str,
    data: bytes,
    limits: assets.UploadLimits = LIMITS,
) -> assets.Uploaded:
    return assets.upload(
        db,
        media,
        tenant_id,
        assets.upload_kind("audio/wav"),
        assets.AssetFields(title="song"),
        body=lambda: (io.BytesIO(data), len(data)),
        now=NOW,
        limits=limits,
        keep_revisions=KEEP,
    )


def test_an_upload_of_bytes_the_tenant_has_is_that_asset_and_the_quota_counts_the_rest(
    db: Database, media: LocalMediaStore, tenant: str
) -> None:
    first = _upload(db, media, tenant, wav(b"one"))
    again = _upload(db, media, tenant, wav(b"one"))
    assert first.created and not again.created
    assert again.asset.id == first.asset.id
    assert media.exists(first.asset.sha256)
    tight = assets.UploadLimits(100_000, quota_bytes=first.asset.size_bytes + 10)
    assert not _upload(db, media, tenant, wav(b"one"), tight).created  # a re-upload fits
    with pytest.raises(QuotaExceeded) as refused:
        _upload(db, media, tenant, wav(b"two"), tight)
    assert refused.value.code == "quota_exceeded"
    page = assets.list_assets(db, tenant, 10, None)
    assert [a.id for a in page.items] == [first.asset.id]
    assert page.next is None


def test_a_playlist_edit_needs_the_current_version_and_an_asset_in_use_stays(
    db: Database, media: LocalMediaStore, tenant: str
) -> None:
    asset = _upload(db, media, tenant, wav(b"song")).asset
    with pytest.raises(InvalidField) as unknown:
        playlists.create_playlist(
            db, tenant, "day", [("ast_nope", None)], now=NOW, keep_revisions=KEEP
        )
    assert (unknown.value.field, unknown.value.code) == ("items[0].asset_id", "unknown_asset")

    created = playlists.create_playlist(
        db, tenant, "day", [(asset.id, 5000)], now=NOW, keep_revisions=KEEP
    )
    assert created.version == 1
    assert [(i.asset_id, i.duration_ms) for i in created.items] == [(asset.id, 5000)]
    later = NOW + timedelta(minutes=1)
    replaced = playlists.replace_playlist(
        db,
        tenant,
        created.playlist.id,
        "night",
        [],
        if_match='"1"',
        now=later,
        keep_revisions=KEEP,
    )
    assert (replaced.version, replaced.playlist.name, list(replaced.items)) == (2, "night", [])
    with pytest.raises(VersionMismatch):
        playlists.replace_playlist(
            db,
            tenant,
            created.playlist.id,
            "x",
            [],
            if_match='"1"',
            now=later,
            keep_revisions=KEEP,
        )
    playlists.replace_playlist(
        db,
        tenant,
        created.playlist.id,
        "day",
        [(asset.id, None)],
        if_match=None,
        now=later,
        keep_revisions=KEEP,
    )
    with pytest.raises(Conflict) as in_use:
        assets.delete_asset(db, media, tenant, asset.id, KEEP)
    assert in_use.value.code == "asset_in_use"
    assert assets.get_asset(db, tenant, asset.id).id == asset.id
    assert media.exists(asset.sha256)


def test_a_scheduled_device_is_not_decommissioned_and_a_free_one_forgets_its_token(
    db: Database, media: LocalMediaStore, tenant: str
) -> None:
    asset = _upload(db, media, tenant, wav(b"song")).asset
    playlist = playlists.create_playlist(
        db, tenant, "day", [(asset.id, None)], now=NOW, keep_revisions=KEEP
    )
    box = devices.register_device(
        db, tenant, "box", "Europe/Paris", ["north"], now=NOW, code_ttl_s=3600
    )
    with pytest.raises(InvalidField) as no_device:
        schedules.create_schedule(
            db,
            tenant,
            schedules.ScheduleFields(playlist.playlist.id, "device", "dev_nope"),
            NOW,
            KEEP,
        )
    assert no_device.value.field == "target.device_id"
    schedule = schedules.create_schedule(
        db,
        tenant,
        schedules.ScheduleFields(playlist.playlist.id, "device", box.device.id),
        NOW,
        KEEP,
    )
    forgotten: list[str] = []
    revocation = devices.TokenRevocation(broker_account=False, after_commit=forgotten.append)
    with pytest.raises(Conflict) as scheduled:
        devices.decommission_device(db, tenant, box.device.id, revocation, now=NOW)
    assert scheduled.value.code == "device_scheduled"
    assert forgotten == []
    schedules.delete_schedule(db, tenant, schedule.id, if_match='"1"', keep_revisions=KEEP)
    devices.decommission_device(db, tenant, box.device.id, revocation, now=NOW)
    assert forgotten == [box.device.id]
    listed = devices.list_devices(db, tenant, 10, None, now=NOW, telemetry_interval_s=60)
    assert listed.items == []


class _Limiter:
    """Locks the address out at its second failure; remembers what it was told."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.successes: list[str] = []

    def failed(self, s: Session, address: str, now: datetime) -> RateLimited | None:
        self.failures.append(address)
        return RateLimited("too many", 30) if len(self.failures) >= 2 else None

    def succeeded(self, s: Session, address: str, now: datetime) -> None:
        self.successes.append(address)


def test_an_enrollment_code_works_once_then_failures_count_per_address(
    db: Database, tenant: str
) -> None:
    box = devices.register_device(db, tenant, "box", "UTC", [], now=NOW, code_ttl_s=3600)
    limiter = _Limiter()
    enrolled = enrollment.enroll(
        db, limiter, box.enrollment_code, {"model": "pi"}, "10.0.0.1", now=NOW
    )
    assert enrolled.device_id == box.device.id
    assert limiter.successes == ["10.0.0.1"]
    with pytest.raises(BadEnrollmentCode):
        enrollment.enroll(db, limiter, box.enrollment_code, None, "10.0.0.2", now=NOW)
    with pytest.raises(RateLimited) as locked:
        enrollment.enroll(db, limiter, box.enrollment_code, None, "10.0.0.2", now=NOW)
    assert locked.value.retry_after_s == 30
    assert limiter.failures == ["10.0.0.2", "10.0.0.2"]
    with db.read() as s:
        principal = repo.lookup_token(s, repo.hash_secret(enrolled.device_token))
    assert principal is not None and principal.device_id == box.device.id


def test_a_manifest_then_not_modified_then_plays_reported_and_exported(
    db: Database, media: LocalMediaStore, tenant: str
) -> None:
    asset = _upload(db, media, tenant, wav(b"song")).asset
    playlist = playlists.create_playlist(
        db, tenant, "day", [(asset.id, None)], now=NOW, keep_revisions=KEEP
    )
    box = devices.register_device(db, tenant, "box", "UTC", ["north"], now=NOW, code_ttl_s=60)
    schedule = schedules.create_schedule(
        db, tenant, schedules.ScheduleFields(playlist.playlist.id, "group", "north"), NOW, KEEP
    )
    revisions = RevisionCache(60, monotonic=lambda: 0.0)
    scope = "unused-by-a-full-poll"
    first = manifest.poll(db, revisions, tenant, box.device.id, scope, since=None, now=NOW)
    assert isinstance(first, manifest.Snapshot)
    assert first.full
    assert [s.id for s in first.schedules] == [schedule.id]
    assert [p.playlist.id for p in first.playlists] == [playlist.playlist.id]
    assert [a.id for a in first.assets] == [asset.id]
    device_scope = first.cursor.split(".", 1)[1]
    again = manifest.poll(
        db, revisions, tenant, box.device.id, device_scope, since=first.cursor, now=NOW
    )
    assert again == manifest.NotModified(first.cursor)

    play = {
        "id": str(uuid.uuid4()),
        "asset_id": asset.id,
        "sha256": asset.sha256,
        "started_at": "2026-11-23T10:00:00Z",
        "ended_at": "2026-11-23T10:03:00Z",
        "source": "playlist",
        "outcome": "completed",
        "schedule_id": schedule.id,
        "playlist_id": playlist.playlist.id,
    }
    result = plays.ingest(db, tenant, box.device.id, [play, play, {"id": "x"}], NOW)
    assert (result.accepted, result.duplicates) == (1, 1)
    # Each bad play on its own, named by the first field it lacks.
    assert [(r.id, r.field) for r in result.rejected] == [("x", "plays[2].asset_id")]
    assert plays.ingest(db, tenant, box.device.id, [play], NOW).duplicates == 1
    listed = plays.list_plays(db, tenant, plays.PlayFilters(device_id=box.device.id), 10, None)
    assert [p.id for p in listed.items] == [play["id"]]
    none = plays.PlayFilters(started_from=NOW + timedelta(days=1))
    assert [list(page) for page in plays.export_plays(db, tenant, none)] == [[]]
