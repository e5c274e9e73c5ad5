"""Remote commands end to end: `lomuz-control serve` publishing to a real Mosquitto and a
`lomuz-player run` daemon (null backend) running them and acknowledging over HTTP.

The player polls every 10 minutes, so a command done within seconds came by push.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lomuz_rules.push import commands_topic
from tests.e2e.conftest import (
    ApiServer,
    Director,
    PlayerProcess,
    instant,
    tail,
    wait_for,
    wav_bytes,
)
from tests.e2e.test_push import _api, _push_player, _push_state
from tests.mqtt import Publisher, require_broker

pytestmark = pytest.mark.e2e
COMMAND_BOUND_S = 5.0


class Commands:
    def __init__(self, director: Director, device_id: str) -> None:
        self.director = director
        self.path = f"/v1/devices/{device_id}/commands"

    def send(self, **body: Any) -> dict[str, Any]:
        reply = self.director.http.post(self.path, json=body)
        assert reply.status_code == 202, reply.text
        command: dict[str, Any] = reply.json()
        return command

    def get(self, command_id: str) -> dict[str, Any]:
        reply = self.director.http.get(f"{self.path}/{command_id}")
        assert reply.status_code == 200, reply.text
        command: dict[str, Any] = reply.json()
        return command

    def run(self, logs: tuple[Path, ...], **body: Any) -> tuple[dict[str, Any], float]:
        """Send one command and wait for it to be done; (the command, seconds it took)."""
        sent_at = time.monotonic()
        command = self.send(**body)
        final: dict[str, Any] = {}

        def finished() -> bool:
            final.update(self.get(command["id"]))
            assert final["state"] != "failed", final
            return final["state"] == "done"

        wait_for(
            finished,
            timeout_s=COMMAND_BOUND_S,
            what=f"{body['type']} command done",
            interval_s=0.05,
            logs=logs,
        )
        return final, time.monotonic() - sent_at


def _playing(player: PlayerProcess) -> dict[str, Any]:
    now_playing: dict[str, Any] = player.status()["daemon"]["now_playing"]
    return now_playing


@pytest.mark.timeout(240)
def test_each_command_is_done_within_seconds_once_and_never_after_it_expired(
    tmp_path: Path, player_factory: Callable[..., PlayerProcess]
) -> None:
    broker_url = require_broker()
    api: ApiServer = _api(tmp_path, broker_url, sync_interval_s=600)
    api.start()
    director = Director(api, api.create_tenant("Command shops"))
    player = _push_player(player_factory, broker_url, sync_interval_s=600)
    logs = (player.log_path, api.log_path)
    try:
        device = director.device(f"commanded-{time.time_ns()}")
        player.enroll(api.url, device["enrollment_code"])
        tones = [director.upload(f"tone {n}", wav_bytes(n, duration_ms=4000)) for n in (1, 2)]
        playlist = director.playlist("tones", [t["id"] for t in tones], duration_ms=4000)
        director.schedule(playlist["id"], device["id"])
        assert player.sync()["ok"]
        player.start()
        wait_for(lambda: _push_state(player) == "connected", timeout_s=20, what="push", logs=logs)
        wait_for(
            lambda: _playing(player)["state"] == "playing", timeout_s=20, what="play", logs=logs
        )
        commands = Commands(director, device["id"])

        latencies_s: list[float] = []
        snapshot, took = commands.run(logs, type="snapshot")
        latencies_s.append(took)
        result = snapshot["result"]
        assert result["item"]["asset_id"] in {t["id"] for t in tones}
        assert result["item"]["title"].startswith("tone")
        assert result["tier"] == "playlist" and result["volume"] == 100
        assert 0 <= result["position_ms"] <= 60_000
        assert result["output"]["audio"] in ("ok", "unknown")

        volume, took = commands.run(logs, type="volume", value=35)
        latencies_s.append(took)
        assert volume["result"] == {"volume": 35}
        snapshot, took = commands.run(logs, type="snapshot")
        latencies_s.append(took)
        assert snapshot["result"]["volume"] == 35

        skipped, took = commands.run(logs, type="skip")
        latencies_s.append(took)
        assert skipped["result"]["skipped_asset_id"] in {t["id"] for t in tones}
        wait_for(
            lambda: any(p["outcome"] == "skipped" for p in player.plays()),
            timeout_s=10,
            what="the skipped play recorded",
            logs=logs,
        )

        restarted, took = commands.run(logs, type="restart_playback")
        latencies_s.append(took)
        assert restarted["result"]["restarted"] is True
        wait_for(
            lambda: _playing(player)["state"] == "playing", timeout_s=10, what="replay", logs=logs
        )

        synced, took = commands.run(logs, type="sync")
        latencies_s.append(took)
        assert synced["result"]["changed"] is False
        assert synced["result"]["cursor"]
        print(
            f"commands: sent to done median {statistics.median(latencies_s):.2f} s, "
            f"max {max(latencies_s):.2f} s {[round(s, 2) for s in latencies_s]}"
        )
        assert max(latencies_s) <= COMMAND_BOUND_S

        # The same command delivered twice (a broker redelivery) runs once.
        sender = Publisher(broker_url)
        try:
            message = {k: skipped[k] for k in ("id", "type", "expires_at")}
            for _ in range(2):
                sender.send(commands_topic(device["id"]), json.dumps(message).encode())
            _hostile_payloads_change_nothing(sender, commands_topic(device["id"]))
        finally:
            sender.close()
        assert _push_state(player) == "connected"
        after, _ = commands.run(logs, type="snapshot")  # still answering, in order
        assert after["state"] == "done"
        assert commands.get(skipped["id"])["updated_at"] == skipped["updated_at"]
        log = player.log_path.read_text(encoding="utf-8")
        assert log.count(f"command {skipped['id']} (skip) received") == 1, tail(player.log_path)

        # A command that expires while the player is away is never run.
        assert player.stop() == 0
        expires_at = datetime.now(UTC) + timedelta(seconds=3)
        expiring = commands.send(type="skip", expires_at=instant(expires_at))
        time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
        player.start()
        wait_for(lambda: _push_state(player) == "connected", timeout_s=20, what="push", logs=logs)
        commands.run(logs, type="snapshot")
        assert commands.get(expiring["id"])["state"] == "expired"
        assert expiring["id"] not in player.log_path.read_text(encoding="utf-8")
        assert player.stop() == 0
    finally:
        director.close()
        api.stop()


HOSTILE = (
    st.binary(max_size=2000)
    | st.text(max_size=200).map(str.encode)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(["id", "type", "value", "expires_at", "x"]), children)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode())
)


def _hostile_payloads_change_nothing(sender: Publisher, topic: str) -> None:
    for payload in (b"\xff" * 100, b"[" * 10_000, b"x" * 400_000, b'{"id": 1, "type": "skip"}'):
        sender.send(topic, payload)

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=HOSTILE)
    def send(payload: bytes) -> None:
        sender.send(topic, payload)

    send()


@pytest.mark.timeout(180)
def test_without_a_broker_a_command_is_picked_up_at_the_next_sync(
    tmp_path: Path, player_factory: Callable[..., PlayerProcess]
) -> None:
    api = ApiServer(tmp_path / "api")  # no LOMUZ_MQTT_URL: nothing is published
    api.start()
    director = Director(api, api.create_tenant("Polling shops"))
    player = player_factory()
    logs = (player.log_path, api.log_path)
    try:
        device = director.device(f"polled-{time.time_ns()}")
        player.enroll(api.url, device["enrollment_code"])
        player.start()
        commands = Commands(director, device["id"])
        command = commands.send(type="volume", value=55)
        assert commands.get(command["id"])["state"] == "pending"
        assert player.sync()["ok"]  # `lomuz-player sync`: the daemon syncs, then picks up
        wait_for(
            lambda: commands.get(command["id"])["state"] == "done",
            timeout_s=COMMAND_BOUND_S,
            what="the picked-up command done",
            interval_s=0.05,
            logs=logs,
        )
        assert commands.get(command["id"])["result"] == {"volume": 55}
        assert player.stop() == 0
    finally:
        director.close()
        api.stop()
