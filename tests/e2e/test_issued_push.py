"""Push with the broker account the API issues (issue 13), end to end: a private
Mosquitto with the dynamic-security plugin and anonymous off, `lomuz-control serve`
managing accounts (LOMUZ_MQTT_MANAGE_ACCOUNTS=1), a `lomuz-player run` daemon with
`[push] url = "issued"` that asks for its account, stores it (0600) and syncs on a
nudge. The poll interval is 10 minutes, so a change within seconds came by push."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from control_api.broker_dynsec import DynsecAccounts
from control_api.core.broker_accounts import api_account_steps
from lomuz_rules.push import parse_broker_url
from tests.e2e.conftest import Director, PlayerProcess, wait_for
from tests.e2e.test_push import PUSH_BOUND_S, _api, _next_playlist, _push_player, _two_playlists
from tests.mqtt import DYNSEC_ADMIN, connack, private_broker

pytestmark = pytest.mark.e2e


def _api_account(port: int) -> str:
    admin = DynsecAccounts(
        parse_broker_url(f"mqtt://{DYNSEC_ADMIN[0]}:{DYNSEC_ADMIN[1]}@127.0.0.1:{port}")
    )
    admin.start()
    try:
        assert admin.wait_ready(10), "no dynamic-security connection as the admin"
        admin.apply(api_account_steps("lomuz-api", "api-password"))
    finally:
        admin.stop()
    return f"mqtt://lomuz-api:api-password@127.0.0.1:{port}"


@pytest.mark.timeout(180)
def test_a_player_with_an_issued_account_syncs_on_a_nudge(
    tmp_path: Path, player_factory: Callable[..., PlayerProcess]
) -> None:
    with private_broker(tmp_path / "broker", dynsec=True) as broker:
        api = _api(tmp_path, _api_account(broker.port), sync_interval_s=600)
        api.env["LOMUZ_MQTT_MANAGE_ACCOUNTS"] = "1"
        api.start()
        director = Director(api, api.create_tenant("Issued shops"))
        player = _push_player(player_factory, "issued", sync_interval_s=600)
        try:
            device = director.device("issued")
            player.enroll(api.url, device["enrollment_code"])
            playlist_a, playlist_b, switch = _two_playlists(director, device["id"])
            assert player.sync()["ok"]
            player.start()
            wait_for(
                lambda: player.status()["push"]["state"] == "connected",
                timeout_s=30,
                what="push connected with the issued account",
                logs=(player.log_path, api.log_path),
            )
            login = player.data_dir / "broker-login.json"
            assert stat.S_IMODE(login.stat().st_mode) == 0o600
            assert _next_playlist(player) == playlist_a
            body = {
                "playlist_id": playlist_a,
                "target": {"device_id": device["id"]},
                "priority": -5,
            }
            put = director.http.put(f"/v1/schedules/{switch['id']}", json=body)
            assert put.status_code == 200, put.text
            wait_for(
                lambda: _next_playlist(player) == playlist_b,
                timeout_s=PUSH_BOUND_S,
                what="the change to reach the player by push",
                interval_s=0.05,
                logs=(player.log_path, api.log_path),
            )
            # Anonymous is refused on this broker: the nudge came over the issued account.
            assert connack(f"mqtt://127.0.0.1:{broker.port}") == "Not authorized"
            assert player.stop() == 0
        finally:
            director.close()
            api.stop()
