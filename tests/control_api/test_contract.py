"""Manifests the API writes are accepted by the player's decoder (the wire contract)."""

from __future__ import annotations

from player.wire import decode_manifest
from tests.control_api.conftest import Api
from tests.control_api.media_samples import png, wav


def test_full_and_delta_manifests_decode_on_the_player_side(api: Api) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin, timezone="Europe/Paris", groups=["north"])
    song = api.upload(admin, wav(b"song"), "audio/wav", valid_from="2026-01-01T00:00:00Z").json
    image = api.upload(admin, png(b"img"), "image/png").json
    api.upload(admin, wav(b"alarm"), "audio/wav", emergency="true")
    items = [{"asset_id": song["id"]}, {"asset_id": image["id"], "duration_ms": 8000}]
    playlist = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": items}).json
    for target in ({"device_id": device_id}, {"group": "north"}, {"all": True}):
        api.call(
            "POST",
            "/v1/schedules",
            admin,
            json={
                "playlist_id": playlist["id"],
                "target": target,
                "days": [1, 5],
                "start_time": "22:00",
                "end_time": "06:00",
            },
        )
    full = api.call("GET", "/v1/device/manifest", token)
    decoded = decode_manifest(full.content)
    assert decoded is not None
    cursor = full.json["cursor"]
    schedule_id = full.json["schedules"][0]["id"]
    api.call("DELETE", f"/v1/schedules/{schedule_id}", admin)
    api.call("PATCH", f"/v1/assets/{song['id']}", admin, json={"title": "renamed"})
    delta = api.call("GET", "/v1/device/manifest", token, params={"since": cursor})
    assert delta.json["full"] is False
    assert delta.json["deleted"]["schedules"] == [schedule_id]
    assert decode_manifest(delta.content) is not None
