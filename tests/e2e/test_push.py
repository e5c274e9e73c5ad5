"""Push end to end: `lomuz-control serve` publishing nudges to a real Mosquitto and a
`lomuz-player run` daemon (null backend) syncing on them.

The poll interval is 10 minutes in the first test, so a change that reaches the
player within seconds can only have come by push. The second test kills its own
broker mid-run: the player keeps playing and polling, its push state goes
disconnected and back, with one log line each way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lomuz_rules.push import nudge_topic
from tests.e2e.conftest import ApiServer, Director, PlayerProcess, tail, wait_for, wav_bytes
from tests.mqtt import Publisher, private_broker, require_broker

pytestmark = pytest.mark.e2e
PUSH_BOUND_S = 5.0


def _api(tmp_path: Path, broker_url: str, sync_interval_s: int) -> ApiServer:
    server = ApiServer(tmp_path / "api")
    server.env["LOMUZ_MQTT_URL"] = broker_url
    server.env["LOMUZ_SYNC_INTERVAL_S"] = str(sync_interval_s)
    return server


def _push_player(
    factory: Callable[..., PlayerProcess], broker_url: str, sync_interval_s: int
) -> PlayerProcess:
    player = factory()
    text = player.config_path.read_text(encoding="utf-8")
    text = text.replace("[sync]\ninterval_s = 10\n", f"[sync]\ninterval_s = {sync_interval_s}\n")
    player.config_path.write_text(
        text + f'[push]\nurl = "{broker_url}"\njitter_s = 1\nmin_interval_s = 1\n',
        encoding="utf-8",
    )
    return player


def _next_playlist(player: PlayerProcess) -> str | None:
    decision: dict[str, Any] = player.cli_json("next")
    return decision.get("playlist_id")


def _push_state(player: PlayerProcess) -> str:
    state: str = player.status()["push"]["state"]
    return state


def _two_playlists(director: Director, device_id: str) -> tuple[str, str, dict[str, Any]]:
    """Playlists a and b, both in the device's view (so both cached); a plays first."""
    a, b = (director.upload(f"tone {n}", wav_bytes(n)) for n in (1, 2))
    playlist_a = director.playlist("a", [a["id"]])
    playlist_b = director.playlist("b", [b["id"]])
    director.schedule(playlist_b["id"], device_id, priority=0)
    switch = director.schedule(playlist_a["id"], device_id, priority=5)
    return playlist_a["id"], playlist_b["id"], switch


@pytest.mark.timeout(180)
def test_a_change_reaches_a_player_by_push_within_seconds(
    tmp_path: Path, player_factory: Callable[..., PlayerProcess]
) -> None:
    broker_url = require_broker()
    api = _api(tmp_path, broker_url, sync_interval_s=600)
    api.start()
    director = Director(api, api.create_tenant("Push shops"))
    player = _push_player(player_factory, broker_url, sync_interval_s=600)
    try:
        device = director.device("pushed")
        player.enroll(api.url, device["enrollment_code"])
        playlist_a, playlist_b, switch = _two_playlists(director, device["id"])
        assert player.sync()["ok"]  # the cache holds both playlists' files
        player.start()
        wait_for(
            lambda: _push_state(player) == "connected",
            timeout_s=20,
            what="push connected",
            logs=(player.log_path,),
        )
        assert _next_playlist(player) == playlist_a

        latencies_s = []
        for n in range(4):
            priority = -5 if n % 2 == 0 else 5
            expected = playlist_b if priority < 0 else playlist_a
            changed_at = time.monotonic()
            body = {
                "playlist_id": playlist_a,
                "target": {"device_id": device["id"]},
                "priority": priority,
            }
            put = director.http.put(f"/v1/schedules/{switch['id']}", json=body)
            assert put.status_code == 200, put.text
            wait_for(
                lambda expected=expected: _next_playlist(player) == expected,  # type: ignore[misc]
                timeout_s=PUSH_BOUND_S,
                what=f"change {n} to reach the player by push",
                interval_s=0.05,
                logs=(player.log_path, api.log_path),
            )
            latencies_s.append(time.monotonic() - changed_at)
        print(f"push: change to `next` median {statistics.median(latencies_s):.2f} s {latencies_s}")

        # Hostile payloads on the device's topic change nothing and stop nothing.
        sender = Publisher(broker_url)
        try:
            for payload in (b"\xff" * 100, b"{" * 10_000, b'{"revision": "x"}', b"x" * 400_000):
                sender.send(nudge_topic(device["id"]), payload)
        finally:
            sender.close()
        assert _push_state(player) == "connected"
        assert _next_playlist(player) == playlist_a
        assert player.stop() == 0
    finally:
        director.close()
        api.stop()


@pytest.mark.timeout(180)
def test_broker_killed_mid_run_the_player_polls_on_and_push_comes_back(
    tmp_path: Path, player_factory: Callable[..., PlayerProcess]
) -> None:
    with private_broker(tmp_path / "broker") as broker:
        api = _api(tmp_path, broker.url, sync_interval_s=10)  # the API's minimum
        api.start()
        director = Director(api, api.create_tenant("Push shops"))
        player = _push_player(player_factory, broker.url, sync_interval_s=10)
        try:
            device = director.device("resilient")
            player.enroll(api.url, device["enrollment_code"])
            playlist_a, playlist_b, switch = _two_playlists(director, device["id"])
            assert player.sync()["ok"]
            player.start()
            wait_for(
                lambda: _push_state(player) == "connected",
                timeout_s=20,
                what="push connected",
                logs=(player.log_path,),
            )

            broker.kill()
            wait_for(
                lambda: _push_state(player) == "disconnected",
                timeout_s=15,
                what="push disconnected",
                logs=(player.log_path,),
            )
            # A change while the broker is away arrives by polling (every 10 s here).
            body = {"playlist_id": playlist_a, "target": {"device_id": device["id"]}}
            body["priority"] = -5
            put = director.http.put(f"/v1/schedules/{switch['id']}", json=body)
            assert put.status_code == 200, put.text
            wait_for(
                lambda: _next_playlist(player) == playlist_b,
                timeout_s=40,
                what="the change to arrive by polling",
                logs=(player.log_path,),
            )
            assert player.status()["daemon"]["now_playing"]["state"] == "playing"

            broker.start()
            wait_for(
                lambda: _push_state(player) == "connected",
                timeout_s=150,
                what="push connected again",
                interval_s=0.5,
                logs=(player.log_path,),
            )
            assert player.stop() == 0
        finally:
            director.close()
            api.stop()
    log = player.log_path.read_text(encoding="utf-8")
    assert log.count("player.adapters.mqtt_push") == 3, tail(player.log_path)  # up, down, back
    assert log.count("unreachable") == 1, tail(player.log_path)
    assert log.count("reachable again") == 1, tail(player.log_path)
