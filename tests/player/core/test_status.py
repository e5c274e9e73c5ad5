"""One status model: the typed device state, and every view rendered from one PlayerStatus."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from player.adapters.textfile_metrics import PlayerMetrics
from player.core import clock as rules
from player.core.model import DeviceInfo, Tier
from player.core.push import PushStatus
from player.core.status import (
    NO_COUNTS,
    CacheUse,
    DeviceState,
    DownloadStatus,
    NowPlaying,
    PlayerStatus,
    RuntimeStatus,
    StoreCounts,
    audio_state,
    status_line,
)
from player.status_render import live_json, local_json, status_text
from player.store.read_only import read_device_state

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_device_state_is_read_typed_through_one_accessor() -> None:
    stored = {
        "cursor": "c42",
        "device": json.dumps(
            {"id": "d1", "name": "Shop", "timezone": "Europe/Paris", "groups": ["north"]}
        ),
        "last_sync_ok_at": "2026-12-01T08:59:30Z",
        "last_sync_attempt_at": "2026-12-01T08:59:31Z",
        "last_sync_error": "",  # cleared
        "clock_lower_bound": "2026-12-01T08:00:00+00:00",
        "plays.dropped": "7",
        "storage_full": "1",
        "clock_trusted": "1",
        "last_error": "boom",
    }
    state = read_device_state(stored.get)
    assert state.cursor == "c42"
    assert state.device == DeviceInfo("d1", "Shop", "Europe/Paris", ("north",))
    assert state.last_sync_ok_at == datetime(2026, 12, 1, 8, 59, 30, tzinfo=UTC)
    assert state.last_sync_attempt_at == datetime(2026, 12, 1, 8, 59, 31, tzinfo=UTC)
    assert state.last_sync_error is None
    assert state.clock_lower_bound == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert state.plays_dropped == 7
    assert state.storage_full is True
    # The shown keys in their fixed order, raw (the empty error included, as before).
    assert state.shown == (("last_sync_error", ""), ("last_error", "boom"), ("clock_trusted", "1"))
    assert read_device_state({}.get) == DeviceState()


def daemon_status() -> PlayerStatus:
    playing = NowPlaying(
        state="playing",
        tier=Tier.PLAYLIST,
        asset_id="a1",
        sha256="s" * 64,
        started_at=AT - timedelta(seconds=5),
        audio_output="ok",
        gain_db=-3.5,
        gain_reason="target",
    )
    return PlayerStatus(
        at=AT,
        state=DeviceState(
            cursor="c42",
            last_sync_ok_at=AT - timedelta(minutes=1),
            last_sync_attempt_at=AT - timedelta(seconds=30),
            last_sync_error="api down",
            plays_dropped=2,
        ),
        counts=StoreCounts(
            assets=3,
            playlists=1,
            schedules=1,
            files_present=2,
            quarantined=1,
            outbox_pending=4,
            outbox_total=9,
            plays_dropped=2,
        ),
        cache=CacheUse(files=2, size_bytes=2048),
        clock=rules.ClockStatus(
            trusted=True,
            plausible=True,
            offset_s=1.23456,
            offset_age_s=3.0,
            lower_bound=None,
            steps=0,
            last_step_s=None,
            reason="API offset measured 3 s ago",
        ),
        runtime=RuntimeStatus(
            started_at=AT - timedelta(hours=1),
            player_version="1.2.3",
            libvlc_version=None,
            now_playing=playing,
            audio=audio_state("vlc", playing),
            enrolled=True,
            downloads=DownloadStatus(
                pending=5,
                in_progress=(),
                failing=(),
                downloaded_total=1,
                failed_total=2,
                downloaded_bytes_total=10,
            ),
            storage_full=False,
            push=PushStatus("connected"),
        ),
        plays_total=11,
    )


def test_the_live_status_and_the_metrics_render_the_same_model() -> None:
    status = daemon_status()
    live = live_json(status)
    metrics = PlayerMetrics.from_status(status)
    assert list(live) == [
        "at",
        "versions",
        "started_at",
        "now_playing",
        "audio",
        "enrolled",
        "cursor",
        "last_sync_ok_at",
        "last_sync_error",
        "sync_failures",
        "cache",
        "storage_full",
        "outbox",
        "catalogue",
        "clock",
        "downloads",
        "system",
        "push",
    ]
    assert live["push"] == {"state": "connected"}
    assert live["at"] == "2026-12-01T09:00:00Z"
    assert live["last_sync_ok_at"] == "2026-12-01T08:59:00Z"
    assert metrics.last_sync_success_at == status.state.last_sync_ok_at
    assert live["outbox"] == {"pending": 4, "dropped": 2}
    assert (metrics.outbox_pending_plays, metrics.outbox_dropped_plays_total) == (4, 2)
    assert live["clock"] == {
        "trusted": True,
        "plausible": True,
        "offset_s": 1.235,
        "reason": "API offset measured 3 s ago",
        "steps": 0,
    }
    assert metrics.clock_offset_s == 1.23456 and metrics.clock_trusted
    assert live["audio"] == {"backend": "vlc", "state": "ok", "problem": None}
    assert metrics.playing and metrics.tier == "playlist"
    assert metrics.sync_failing and live["last_sync_error"] == "api down"
    assert (metrics.pending_downloads, metrics.download_failures_total) == (5, 2)
    assert metrics.plays_total == 11 and metrics.version == "1.2.3"
    assert metrics.taken_at == AT
    assert status.runtime is not None and status.runtime.now_playing is not None
    assert status_line(status.runtime.now_playing) == "playing: playlist a1"
    assert status_line(NowPlaying(state="starting")) == "starting: -"


def test_the_local_status_keys_are_protocols() -> None:
    empty = PlayerStatus(at=AT, state=DeviceState(), counts=NO_COUNTS, cache=CacheUse(0, 0))
    local = local_json(empty, enrolled=False, data_dir=Path("/d"), database=None)
    assert list(local) == [
        "at",
        "device",
        "enrolled",
        "cursor",
        "last_sync_at",
        "counts",
        "cache",
        "outbox_plays",
        "dropped_plays",
        "quarantined_files",
        "state",
        "data_dir",
        "database",
    ]
    assert local["database"] is None and local["state"] == {} and local["device"] is None
    assert audio_state("null", None).state == "off"


def test_status_shows_the_current_item_s_loudness_gain() -> None:
    """Issue 14: what the item plays at, and why, in ``status`` and ``status --json``."""
    status = daemon_status()
    live = live_json(status)
    assert (live["now_playing"]["gain_db"], live["now_playing"]["gain_reason"]) == (-3.5, "target")
    shown = local_json(status, enrolled=True, data_dir=Path("/d"), database=Path("/d/player.db"))
    shown["daemon"] = live
    lines = list(status_text(shown, Path("/d/player.db")))
    assert "playing    playing playlist a1, gain -3.5 dB (target)" in lines
