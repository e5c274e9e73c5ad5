"""Suite 4: a cache filesystem that fills up, and a wall clock that jumps."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lomuz_rules.model import Tier
from player.adapters.clock import SystemClock
from player.adapters.media_cache import MediaCache
from player.adapters.null_output import NullOutput
from player.composition import StoreSource
from player.core import clock as rules
from player.core.model import Play
from player.errors import DownloadError
from player.runtime.playback import PlaybackLoop
from player.store.repository import PlayerStore
from player.wire import decode_manifest
from tests.fakes.clock import FakeClock
from tests.player.runtime.helpers import WAV_HEADER, store_janitor

MIB = 1024 * 1024
TMPFS_SIZE = "8m"


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as probe:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            return False
        subprocess.run(["umount", probe], check=True)
    return True


DISK_MODE = "tmpfs-8m" if _can_mount_tmpfs() else "simulated-max-cache-bytes"


@pytest.fixture
def cache_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "media"
    root.mkdir()
    if DISK_MODE.startswith("tmpfs"):
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(root)], check=True
        )
    try:
        yield root
    finally:
        if DISK_MODE.startswith("tmpfs"):
            subprocess.run(["umount", "-l", str(root)], check=True)


def _asset(i: int, sha: str, size: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"ast-{i}",
        "sha256": sha,
        "size": size,
        "media_type": "audio",
        "content_type": "audio/wav",
        "title": f"a{i}",
        "duration_ms": 300,
        "valid_from": None,
        "valid_until": None,
        "emergency": False,
        "url": f"/v1/media/{sha}",
        **extra,
    }


def _manifest(assets: list[dict[str, object]], item_ids: list[str]) -> bytes:
    return json.dumps(
        {
            "schema": 1,
            "cursor": "r1",
            "full": True,
            "server_time": "2026-12-01T09:00:00Z",
            "sync_interval_s": 600,
            "device": {"id": "d", "name": "Shop", "timezone": "UTC", "groups": []},
            "assets": assets,
            "playlists": [
                {
                    "id": "pl",
                    "name": "P",
                    "version": 1,
                    "items": [{"asset_id": a, "duration_ms": 300} for a in item_ids],
                }
            ],
            "schedules": [
                {
                    "id": "s",
                    "playlist_id": "pl",
                    "target": "device",
                    "priority": 0,
                    "days": [1, 2, 3, 4, 5, 6, 7],
                    "start_time": "00:00",
                    "end_time": "24:00",
                    "valid_from": None,
                    "valid_until": None,
                    "created_at": "2026-11-01T00:00:00Z",
                    "version": 1,
                }
            ],
        }
    ).encode()


class _RecordingSource(StoreSource):
    def __init__(self, store: PlayerStore) -> None:
        super().__init__(store, Tier.JINGLE)
        self.plays: list[Play] = []

    def record_play(self, play: Play) -> None:
        super().record_play(play)
        self.plays.append(play)


@pytest.mark.parametrize("mode", [DISK_MODE])
def test_full_cache_keeps_playing_reports_storage_full_and_evicts_nothing_scheduled(
    mode: str, tmp_path: Path, cache_root: Path
) -> None:
    # A WAV signature (the loop plays only allowed media), then noise no decoder reads.
    bodies = [WAV_HEADER + os.urandom(3 * MIB - len(WAV_HEADER)) for _ in range(3)]
    stray = os.urandom(MIB)
    shas = [hashlib.sha256(b).hexdigest() for b in bodies]
    stray_sha = hashlib.sha256(stray).hexdigest()
    sources = tmp_path / "src"
    sources.mkdir()
    for sha, body in [*zip(shas, bodies, strict=True), (stray_sha, stray)]:
        (sources / sha).write_bytes(body)
    now = datetime.now(UTC)
    clock = SystemClock()
    cache = MediaCache(cache_root)
    cache.ensure_dirs()
    with PlayerStore.open(tmp_path / "player.db") as store:
        store.catalogue.apply_manifest(
            decode_manifest(
                _manifest(
                    [_asset(i, sha, len(bodies[i])) for i, sha in enumerate(shas)],
                    ["ast-0", "ast-1", "ast-2"],
                )
            )
        )
        for sha, size in [(shas[0], 3 * MIB), (shas[1], 3 * MIB), (stray_sha, MIB)]:
            cache.store_verified_copy(sources / sha, sha, size)
            store.files.mark_file_verified(sha, size, now)
        tmpfs = mode.startswith("tmpfs")
        janitor = store_janitor(
            store,
            cache,
            clock,
            max_cache_bytes=None if tmpfs else 8 * MIB,
            min_free_bytes=256 * 1024 if tmpfs else 0,
        )

        # The third scheduled file does not fit: the stray file goes, the scheduled stay.
        assert janitor.has_room_for(3 * MIB) is False
        report = janitor.run_once()
        assert report.storage_full is True
        assert janitor.storage_full is True
        assert store.state.get_raw("storage_full") == "1"
        assert cache.has(shas[0]) and cache.has(shas[1])
        assert not cache.has(stray_sha)
        if tmpfs:
            # Writing anyway hits ENOSPC: a clear error, nothing half-written committed.
            with pytest.raises((DownloadError, OSError)):
                cache.store_verified_copy(sources / shas[2], shas[2], 3 * MIB)
            assert not cache.has(shas[2])
            assert list((cache_root / "partial").iterdir()) == []
        assert cache.verify(shas[0]) and cache.verify(shas[1])

        # Playback continues from what is cached.
        source = _RecordingSource(store)
        loop = PlaybackLoop(source, clock, NullOutput(), cache.path_for)
        loop.start()
        try:
            deadline = time.monotonic() + 10
            while len(source.plays) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            loop.stop()
        played = [p for p in source.plays if p.outcome == "completed"]
        assert len(played) >= 2
        assert {p.sha256 for p in played} <= {shas[0], shas[1]}
        assert all(p.source == Tier.PLAYLIST for p in played)


# --- clock jumps ----------------------------------------------------------------------

LOWER_BOUND = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _clock_store(path: Path) -> PlayerStore:
    store = PlayerStore.open(path)
    assets = [
        _asset(0, "a" * 64, 10, valid_until="2026-06-01T00:00:00Z"),  # long expired
        _asset(1, "b" * 64, 10, valid_until="2027-06-01T00:00:00Z"),  # expires within a year
        _asset(2, "c" * 64, 10, emergency=True),
    ]
    store.catalogue.apply_manifest(decode_manifest(_manifest(assets, ["ast-0", "ast-1"])))
    for sha in ("a" * 64, "b" * 64, "c" * 64):
        store.files.mark_file_verified(sha, 10, LOWER_BOUND)
    return store


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["to_1970", "forward_year", "back_day", "tick", "api_date"]),
            st.floats(0.5, 120.0),
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_clock_jumps_never_move_corrected_time_back_and_never_play_expired_content(
    steps: list[tuple[str, float]], boot_in_1970: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp, _clock_store(Path(tmp) / "p.db") as store:
        # A box without RTC boots in 1970; one with a good RTC boots at the right time.
        fake = FakeClock(
            EPOCH + timedelta(seconds=30) if boot_in_1970 else LOWER_BOUND + timedelta(hours=1)
        )
        clock = SystemClock(lower_bound=LOWER_BOUND, wall=fake.wall, mono=fake.monotonic)
        last = clock.now()
        assert last >= LOWER_BOUND
        assert clock.status().trusted is not boot_in_1970
        for kind, seconds in steps:
            if kind == "to_1970":
                fake.at = EPOCH + timedelta(seconds=seconds)
            elif kind == "forward_year":
                fake.at += timedelta(days=365)
            elif kind == "back_day":
                fake.at -= timedelta(days=1)
            elif kind == "api_date":
                true_now = max(last, fake.at)
                mono = fake.monotonic()
                clock.observe_server_time(
                    rules.ServerTime(true_now.replace(microsecond=0), mono - 0.05, mono)
                )
            fake.advance(seconds)
            now = clock.now()
            assert now >= last, f"corrected time went back from {last} to {now} ({kind})"
            last = now
            status = clock.status()
            if kind in ("to_1970", "forward_year", "back_day") and status.offset_age_s is None:
                assert status.trusted is False and status.reason
            decision = store.decisions.decide(now)
            assert decision.asset_id != "ast-0", "played content expired before the lower bound"
            if decision.asset_id == "ast-1":
                assert now < datetime(2027, 6, 1, tzinfo=UTC)
            assert decision.tier in (Tier.PLAYLIST, Tier.EMERGENCY)  # fallback tiers play
