"""Builders for catalogues and manifests, shared by core and store tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from lomuz_rules.model import (
    Asset,
    MediaType,
    Override,
    Playlist,
    PlaylistItem,
    Schedule,
    TargetKind,
)
from lomuz_rules.schedule import Catalogue
from player.core.files import FileState
from player.core.model import Deleted, DeviceInfo, Manifest

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
ALL_DAYS = frozenset(range(1, 8))


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def asset(
    asset_id: str,
    *,
    sha256: str | None = None,
    emergency: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    media_type: MediaType = MediaType.AUDIO,
    duration_ms: int | None = None,
    loudness_lufs: float | None = None,
    true_peak_dbtp: float | None = None,
) -> Asset:
    return Asset(
        id=asset_id,
        sha256=sha256 or sha(asset_id),
        size_bytes=1000,
        media_type=media_type,
        content_type=f"{media_type.value}/x-test",
        title=f"title {asset_id}",
        duration_ms=duration_ms,
        valid_from=valid_from,
        valid_until=valid_until,
        emergency=emergency,
        url=f"/v1/media/{sha256 or sha(asset_id)}",
        loudness_lufs=loudness_lufs,
        true_peak_dbtp=true_peak_dbtp,
    )


def playlist(
    playlist_id: str,
    *asset_ids: str,
    durations: dict[int, int] | None = None,
    crossfade_ms: int = 0,
) -> Playlist:
    durations = durations or {}
    return Playlist(
        id=playlist_id,
        name=f"name {playlist_id}",
        items=tuple(PlaylistItem(a, durations.get(i)) for i, a in enumerate(asset_ids)),
        version=1,
        crossfade_ms=crossfade_ms,
    )


def schedule(
    schedule_id: str,
    playlist_id: str,
    *,
    priority: int = 0,
    target: TargetKind = TargetKind.ALL,
    days: Iterable[int] = ALL_DAYS,
    start: int = 0,
    end: int = 1440,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    created_at: datetime = T0,
) -> Schedule:
    return Schedule(
        id=schedule_id,
        playlist_id=playlist_id,
        target=target,
        priority=priority,
        days=frozenset(days),
        start_minute=start,
        end_minute=end,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=created_at,
        version=1,
    )


def device(timezone: str = "UTC") -> DeviceInfo:
    return DeviceInfo(id="dev1", name="Shop 1", timezone=timezone, groups=("north",))


def manifest(
    assets: Iterable[Asset] = (),
    playlists: Iterable[Playlist] = (),
    schedules: Iterable[Schedule] = (),
    *,
    full: bool = True,
    timezone: str = "UTC",
    cursor: str = "c1",
    deleted: Deleted | None = None,
    overrides: Iterable[Override] = (),
) -> Manifest:
    return Manifest(
        schema=1,
        cursor=cursor,
        full=full,
        server_time=T0,
        sync_interval_s=600,
        device=device(timezone),
        assets=tuple(assets),
        playlists=tuple(playlists),
        schedules=tuple(schedules),
        deleted=deleted or Deleted(),
        overrides=tuple(overrides),
    )


def catalogue(
    assets: Iterable[Asset] = (),
    playlists: Iterable[Playlist] = (),
    schedules: Iterable[Schedule] = (),
    *,
    timezone: str = "UTC",
    files: dict[str, FileState] | None = None,
    rotation: dict[tuple[str, int, str], datetime] | None = None,
    last_asset_id: str | None = None,
    overrides: Iterable[Override] = (),
) -> Catalogue:
    """A catalogue in which every asset's file is present unless ``files`` says otherwise."""
    assets = list(assets)
    if files is None:
        files = {a.sha256: FileState(a.sha256, a.size_bytes, present=True) for a in assets}
    return Catalogue(
        timezone=timezone,
        assets={a.id: a for a in assets},
        playlists={p.id: p for p in playlists},
        schedules=tuple(schedules),
        overrides=tuple(overrides),
        files=files,
        rotation=rotation or {},
        last_asset_id=last_asset_id,
    )
