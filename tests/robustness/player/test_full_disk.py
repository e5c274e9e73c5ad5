"""Issue 9: a full SD card never stops the music.

The data directory is a real small tmpfs filled to the last byte by a ballast
file: the database, its -wal/-shm, run.lock and the control socket all live
on it, as on a box. Needs root (mount); skips otherwise, fails under LOMUZ_CI=1.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lomuz_rules.model import Tier
from player.adapters.clock import SystemClock
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.adapters.null_output import NullOutput
from player.adapters.retry import TenacityRetrier
from player.daemon import Daemon
from player.errors import StoreFull
from player.runtime.syncer import SYNC_RETRY, Syncer
from player.settings import Settings
from player.store.read_only import KEY_LAST_SYNC_ERROR
from player.store.repository import PlayerStore
from player.wire import decode_manifest
from tests.player.playback.fakes import write_tone

TMPFS_SIZE = "6m"
ITEM_MS = 300
FULL_WARNING = "is full ("
BACK_INFO = "space is back on"


def _need_root_tmpfs() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "mounting a tmpfs needs root"
    if reason is not None:
        if os.environ.get("LOMUZ_CI") == "1":
            pytest.fail(f"LOMUZ_CI=1 needs the full-disk suite: {reason}")
        pytest.skip(reason)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs as the player's data directory, unmounted afterwards."""
    _need_root_tmpfs()
    root = tmp_path / "data"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("LOMUZ_CI") == "1":
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr.decode()}")
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def fill(root: Path) -> Path:
    """Write a ballast file until the filesystem has not one byte left."""
    ballast = root / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    break
    finally:
        os.close(fd)
    st = os.statvfs(root)
    assert st.f_bavail * st.f_frsize == 0
    return ballast


def _asset(i: int, sha: str, size: int) -> dict[str, object]:
    return {
        "id": f"ast-{i}",
        "sha256": sha,
        "size": size,
        "media_type": "audio",
        "content_type": "audio/wav",
        "title": f"a{i}",
        "duration_ms": ITEM_MS,
        "valid_from": None,
        "valid_until": None,
        "emergency": False,
        "url": f"/v1/media/{sha}",
    }


def _manifest(assets: list[dict[str, object]], cursor: str = "r1") -> bytes:
    return json.dumps(
        {
            "schema": 1,
            "cursor": cursor,
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
                    "items": [{"asset_id": a["id"], "duration_ms": ITEM_MS} for a in assets],
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


def seed(data_dir: Path, tmp_path: Path) -> list[str]:
    """What a previous run leaves: a database at head with two cached, verified items."""
    settings = Settings(data_dir=data_dir)
    cache = MediaCache(settings.media_dir)
    cache.ensure_dirs()
    tones = [write_tone(tmp_path / f"t{i}.wav", 440.0 + 110 * i, ITEM_MS) for i in range(2)]
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in tones]
    with PlayerStore.open(settings.db_path) as store:
        store.catalogue.apply_manifest(
            decode_manifest(
                _manifest([_asset(i, sha, tones[i].stat().st_size) for i, sha in enumerate(shas)])
            )
        )
        for path, sha in zip(tones, shas, strict=True):
            cache.store_verified_copy(path, sha, path.stat().st_size)
            store.files.mark_file_verified(sha, path.stat().st_size, datetime.now(UTC))
    assert sorted(p.name for p in data_dir.iterdir()) == ["media", "player.db"]
    return shas


def wait_for(what: Callable[[], bool], timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.05)
    raise AssertionError(message)


def _messages(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


def test_a_daemon_with_a_database_on_a_full_disk_plays_and_writes_its_plays_back(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    shas = seed(data_dir, tmp_path)
    ballast = fill(data_dir)
    daemon = Daemon(Settings(data_dir=data_dir), {}, output=NullOutput())
    daemon.start()
    try:
        assert daemon.started.is_set()
        loop, store = daemon.parts.loop, daemon.parts.store
        # Several item lengths: it plays the cache, from memory, and keeps going.
        wait_for(lambda: store.outbox.counts().plays_in_memory >= 8, 15, "plays stopped")
        playing = loop.now_playing()
        assert playing.state == "playing" and playing.tier == Tier.PLAYLIST
        assert playing.sha256 in shas
        assert loop._thread is not None and loop._thread.is_alive()
        assert store.outbox.local_plays() == []  # nothing could be written
        counts = store.outbox.counts()
        assert counts.outbox_pending == counts.plays_in_memory
        kept_before = counts.plays_in_memory
        freed_at = datetime.now(UTC)
        ballast.unlink()
        wait_for(
            lambda: (
                store.outbox.counts().plays_in_memory == 0
                and len(store.outbox.local_plays()) >= kept_before
            ),
            15,
            "plays never written back",
        )
    finally:
        daemon.shutdown()

    with PlayerStore.open(Settings(data_dir=data_dir).db_path) as store:
        plays = [play for play, _uploaded in store.outbox.local_plays()]
        assert store.outbox.dropped_plays_count() == 0
    kept = [p for p in plays if p.ended_at <= freed_at]
    assert len(kept) >= kept_before  # written back with their original instants
    assert [p.started_at for p in plays] == sorted(p.started_at for p in plays)
    assert all(p.source == Tier.PLAYLIST and p.sha256 in shas for p in plays)
    # Rotation went on from memory: the two items alternate, never one repeated.
    assert all(a.asset_id != b.asset_id for a, b in itertools.pairwise(kept))
    assert all(
        0.2 <= (p.ended_at - p.started_at).total_seconds() <= 1.5
        for p in kept
        if p.outcome == "completed"
    )

    warnings = _messages(caplog, logging.WARNING, FULL_WARNING)
    assert len(warnings) == 1, warnings
    assert str(data_dir) in warnings[0] and "0 bytes free" in warnings[0]
    assert "kept in memory" in warnings[0]
    infos = _messages(caplog, logging.INFO, BACK_INFO)
    assert len(infos) == 1, infos
    assert "plays kept in memory were written, 0 dropped" in infos[0]


def test_a_daemon_without_a_database_on_a_full_disk_plays_the_jingle(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ballast = fill(data_dir)
    daemon = Daemon(Settings(data_dir=data_dir), {}, output=NullOutput())
    daemon.start()
    try:
        assert daemon.started.is_set()
        loop, store = daemon.parts.loop, daemon.parts.store
        assert store.db.stand_in
        wait_for(lambda: loop.now_playing().state == "playing", 5, "never played")
        assert loop.now_playing().tier == Tier.JINGLE
        # The jingle is 3 s: stay alive for a few of them.
        wait_for(lambda: store.outbox.counts().plays_in_memory >= 2, 12, "the jingle stopped")
        assert loop.now_playing().state == "playing"
        assert daemon.status()["outbox"]["pending"] >= 2
        ballast.unlink()
        wait_for(
            lambda: not store.db.stand_in and store.outbox.counts().plays_in_memory == 0,
            15,
            "the database was never created",
        )
        assert len(store.outbox.local_plays()) >= 2
    finally:
        daemon.shutdown()
    assert len(_messages(caplog, logging.WARNING, FULL_WARNING)) == 1
    assert len(_messages(caplog, logging.INFO, BACK_INFO)) == 1


def test_a_sync_while_full_leaves_the_old_state_and_applies_at_the_next_sync(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seed(data_dir, tmp_path)
    new_assets = [_asset(i, f"{i:x}" * 64, 1000) for i in range(5, 8)]
    body = _manifest(new_assets, cursor="r2")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=body,
            headers={
                "Content-Type": "application/json",
                "ETag": '"r2"',
                "Date": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            },
        )

    client = ControlApiClient(
        "https://api.test", "device-token", transport=httpx.MockTransport(answer)
    )
    ballast = fill(data_dir)
    store = PlayerStore.open(Settings(data_dir=data_dir).db_path, retry_interval_s=0.0)
    try:
        syncer = Syncer(
            store.catalogue,
            store.state,
            client,
            SystemClock(),
            retry=TenacityRetrier(SYNC_RETRY, sleep=lambda _s: None),
        )
        with pytest.raises(StoreFull):
            syncer.sync_once()
        assert store.state.cursor() == "r1"
        assert sorted(a.id for a in store.catalogue.all_assets()) == ["ast-0", "ast-1"]
        assert "full" in (store.state.get_raw(KEY_LAST_SYNC_ERROR) or "")
        ballast.unlink()
        outcome = syncer.sync_once()
        assert outcome.cursor == "r2" and store.state.cursor() == "r2"
        assert sorted(a.id for a in store.catalogue.all_assets()) == ["ast-5", "ast-6", "ast-7"]
        assert store.state.get_raw(KEY_LAST_SYNC_ERROR) == ""
    finally:
        store.close()
        client.close()
    applied = _messages(caplog, logging.WARNING, "cannot apply the manifest")
    assert len(applied) == 1 and "previous state stays" in applied[0]


def test_lomuz_player_run_on_a_full_disk_keeps_playing(data_dir: Path, tmp_path: Path) -> None:
    seed(data_dir, tmp_path)
    fill(data_dir)
    config = tmp_path / "player.toml"
    config.write_text(f'data_dir = "{data_dir}"\n[playback]\nbackend = "null"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOMUZ_", "NOTIFY_"))}
    env["LOMUZ_PLAYER_CONFIG"] = str(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "player.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: any("-> playlist" in line for line in lines) or proc.poll() is not None,
            30,
            f"never played: {lines}",
        )
        assert proc.poll() is None, lines
        time.sleep(10 * ITEM_MS / 1000)  # ten item lengths
        assert proc.poll() is None, lines
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
        proc.stderr.close()
    assert proc.returncode == 0, lines
    assert sum(FULL_WARNING in line for line in lines) == 1, lines
    # Stopped while still full: what was only in memory is said to be lost, not silently.
    assert any("plays could not be written" in line for line in lines), lines
    assert not any("Traceback" in line for line in lines), lines
