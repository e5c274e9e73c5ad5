"""`enroll` on a box whose daemon already runs takes effect at once, no restart."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from player.adapters.null_output import NullOutput
from player.cli import main
from player.daemon import Daemon
from player.settings import Settings
from tests.player.runtime.helpers import content
from tests.player.runtime.realapi import RealApi, real_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[RealApi]:
    with real_api(tmp_path) as served:
        yield served


def _until(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def test_a_running_unenrolled_daemon_syncs_within_seconds_of_enroll(
    api: RealApi, tmp_path: Path
) -> None:
    song = api.upload(content("song", 4000))
    playlist = api.call(
        "POST", "/v1/playlists", json={"name": "day", "items": [{"asset_id": song["id"]}]}
    )
    api.call("POST", "/v1/schedules", json={"playlist_id": playlist["id"], "target": {"all": True}})
    created = api.call("POST", "/v1/devices", json={"name": "shop 1"})

    data_dir = tmp_path / "player"
    config = tmp_path / "player.toml"
    config.write_text(f'data_dir = "{data_dir}"\n[playback]\nbackend = "null"\n')
    daemon = Daemon(Settings(data_dir=data_dir), {}, output=NullOutput())
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert daemon.started.wait(10)
        assert daemon.status()["enrolled"] is False

        out, err = io.StringIO(), io.StringIO()
        code = main(
            [
                "--config",
                str(config),
                "enroll",
                "--api",
                api.url,
                "--code",
                created["enrollment_code"],
            ],
            environ={},
            stdout=out,
            stderr=err,
        )
        assert code == 0, err.getvalue()
        enrolled_mono = time.monotonic()

        # the sync is done once it recorded its time (the cursor is stored just before)
        assert _until(lambda: daemon.status()["last_sync_ok_at"] is not None, 10), (
            "the running daemon never synced after enroll"
        )
        assert time.monotonic() - enrolled_mono < 5
        status = daemon.status()
        assert status["enrolled"] is True
        assert status["cursor"]
        device = api.call("GET", f"/v1/devices/{created['id']}")
        assert device["last_seen_at"] is not None
    finally:
        daemon.request_stop()
        thread.join(15)
    assert not thread.is_alive()
