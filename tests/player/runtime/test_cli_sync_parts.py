"""`lomuz-player sync` in the foreground builds the daemon's parts (issue 11).

The CLI used to wire its own syncer: it ignored ``[api] url``, ran without the
clock floor, and ``status`` then showed a "last sync" the daemon would not.
Each test runs the real entry point against scripted APIs on loopback.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from player.adapters.null_output import NullOutput
from player.cli import main
from player.credentials import Credentials, save_credentials
from player.daemon import Daemon
from player.settings import load_settings
from player.store.read_only import KEY_CLOCK_LOWER_BOUND, KEY_LAST_SYNC_OK_AT
from player.store.repository import PlayerStore
from tests.player.runtime.helpers import Answer, ScriptedServer, Seen, manifest_json

FLOOR = datetime(2040, 1, 1, tzinfo=UTC)  # plausible, so the daemon keeps it


def api_serving(cursor: str) -> ScriptedServer:
    """An API whose manifest (empty catalogue) has ``cursor``."""

    def script(seen: Seen) -> Answer:
        if seen.path.startswith("/v1/device/manifest"):
            return Answer.json(200, manifest_json(cursor=cursor), ETag=f'"{cursor}"')
        return Answer.json(204, {})

    return ScriptedServer(script).start()


@pytest.fixture
def settings_api() -> Iterator[ScriptedServer]:
    server = api_serving("from-settings")
    yield server
    server.close()


@pytest.fixture
def enrolled_api() -> Iterator[ScriptedServer]:
    server = api_serving("from-credentials")
    yield server
    server.close()


def enrolled_box(tmp_path: Path, enrolled_with: str, api_url: str | None = None) -> Path:
    """A config file for a box enrolled with ``enrolled_with`` (``[api] url`` if given)."""
    data_dir = tmp_path / "player"
    data_dir.mkdir()
    save_credentials(data_dir / "credentials.json", Credentials(enrolled_with, "dev-1", "token-1"))
    config = tmp_path / "player.toml"
    text = f'data_dir = "{data_dir}"\n[playback]\nbackend = "null"\n'
    if api_url is not None:
        text += f'[api]\nurl = "{api_url}"\n'
    config.write_text(text)
    return config


def cli(config: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def sync(config: Path) -> dict[str, Any]:
    code, out, err = cli(config, "sync", "--json", "--download-timeout-s", "5")
    reply: dict[str, Any] = json.loads(out)
    assert (code, reply["via"]) == (0, "foreground"), err
    return reply


def test_foreground_sync_uses_the_api_url_from_the_settings_like_the_daemon(
    tmp_path: Path, settings_api: ScriptedServer, enrolled_api: ScriptedServer
) -> None:
    config = enrolled_box(tmp_path, enrolled_api.url, api_url=settings_api.url)
    reply = sync(config)
    assert reply["sync"]["cursor"] == "from-settings"
    assert settings_api.paths("/v1/device/manifest")
    assert enrolled_api.paths() == []


def test_foreground_sync_without_an_api_url_setting_uses_the_enrolled_one(
    tmp_path: Path, enrolled_api: ScriptedServer
) -> None:
    config = enrolled_box(tmp_path, enrolled_api.url)
    assert sync(config)["sync"]["cursor"] == "from-credentials"


def test_foreground_sync_keeps_the_clock_floor_like_the_daemon(
    tmp_path: Path, enrolled_api: ScriptedServer
) -> None:
    config = enrolled_box(tmp_path, enrolled_api.url)
    settings = load_settings(config, {})
    with PlayerStore.open(settings.db_path) as store:
        store.state.set_raw(KEY_CLOCK_LOWER_BOUND, FLOOR.isoformat())
    # The API agrees with the floor: the daemon's clock says 2040, and so must the CLI's.
    enrolled_api.date_offset_s = (FLOOR - datetime.now(UTC)).total_seconds() + 60
    sync(config)
    with PlayerStore.open(settings.db_path) as store:
        synced_at = datetime.fromisoformat(store.state.get_raw(KEY_LAST_SYNC_OK_AT) or "")
        bound = datetime.fromisoformat(store.state.get_raw(KEY_CLOCK_LOWER_BOUND) or "")
    assert synced_at >= FLOOR
    assert bound >= FLOOR


def test_status_after_a_foreground_sync_shows_the_last_sync_the_daemon_shows(
    tmp_path: Path, enrolled_api: ScriptedServer
) -> None:
    config = enrolled_box(tmp_path, enrolled_api.url)
    sync(config)
    code, out, err = cli(config, "status", "--json")
    assert code == 0, err
    shown = json.loads(out)["last_sync_at"]
    assert shown is not None
    # The manifest's server_time (2026-03-02) is not when the box last synced.
    assert not shown.startswith("2026-03-02")

    daemon = Daemon(load_settings(config, {}), {}, output=NullOutput())
    daemon.start()
    try:
        assert daemon.status()["last_sync_ok_at"] == shown
    finally:
        daemon.shutdown()
