"""Presence end to end: `lomuz-control serve` and a `lomuz-player run` daemon on a real
Mosquitto. The daemon's start shows the device online; a clean stop (SIGTERM, as
systemd does) and a kill -9 show it offline within seconds, the transitions listed
once each (scripts/bench/bench_presence.py measures the same path, and the power
cut)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lomuz_rules.push import presence_topic
from tests.e2e.conftest import ApiServer, Director, PlayerProcess
from tests.e2e.test_push import _api, _push_player
from tests.mqtt import publish, require_broker

pytestmark = pytest.mark.e2e
PRESENCE_BOUND_S = 5.0


def _wait_presence(director: Director, device_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + PRESENCE_BOUND_S
    while True:
        got = director.http.get(f"/v1/devices/{device_id}")
        got.raise_for_status()
        device: dict[str, Any] = got.json()
        if device["presence"]["state"] == state:
            return device
        assert time.monotonic() < deadline, f"not {state} within {PRESENCE_BOUND_S} s: {device}"
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_a_players_start_stop_and_kill_show_in_the_api_within_seconds(
    tmp_path: Path, player_factory: Callable[..., PlayerProcess]
) -> None:
    url = require_broker()
    api: ApiServer = _api(tmp_path, url, sync_interval_s=600)
    api.start()
    director = Director(api, api.create_tenant("Presence"))
    device_id = ""
    try:
        device = director.device("box")
        device_id = device["id"]
        player = _push_player(player_factory, url, sync_interval_s=600)
        player.enroll(api.url, device["enrollment_code"])
        player.start()
        assert _wait_presence(director, device_id, "online")["online"] is True
        assert player.stop() == 0
        assert _wait_presence(director, device_id, "offline")["online"] is False
        player.start()
        _wait_presence(director, device_id, "online")
        player.kill()
        _wait_presence(director, device_id, "offline")
        listed = director.http.get(f"/v1/devices/{device_id}/presence")
        listed.raise_for_status()
        states = [e["state"] for e in listed.json()["items"]]
        assert states == ["offline", "online", "offline", "online"]
    finally:
        director.close()
        api.stop()
        if device_id:
            publish(url, presence_topic(device_id), b"", retain=True)
