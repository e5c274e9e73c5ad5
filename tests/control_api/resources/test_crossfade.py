"""A playlist's ``crossfade_ms`` (issue 14): validation, round trip, manifest."""

from __future__ import annotations

import pytest

from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav


def _playlist(api: Api, admin: str, **extra: object) -> object:
    asset = api.upload(admin, wav(b"a"), "audio/wav").json
    body = {"name": "p", "items": [{"asset_id": asset["id"]}], **extra}
    return api.call("POST", "/v1/playlists", admin, json=body)


def test_crossfade_round_trips_and_defaults_to_zero(api: Api) -> None:
    admin = api.tenant()
    created = _playlist(api, admin, crossfade_ms=2500)
    assert created.status_code == 201 and created.json["crossfade_ms"] == 2500  # type: ignore[attr-defined]
    pid = created.json["id"]  # type: ignore[attr-defined]
    assert api.call("GET", f"/v1/playlists/{pid}", admin).json["crossfade_ms"] == 2500
    items = created.json["items"]  # type: ignore[attr-defined]
    put = api.call("PUT", f"/v1/playlists/{pid}", admin, json={"name": "p", "items": items})
    assert put.json["crossfade_ms"] == 0  # a PUT replaces the whole playlist
    put = api.call(
        "PUT", f"/v1/playlists/{pid}", admin,
        json={"name": "p", "items": items, "crossfade_ms": 10_000},
    )  # fmt: skip
    assert put.json["crossfade_ms"] == 10_000
    device_id, token = api.device(admin)
    api.call("POST", "/v1/schedules", admin, json={
        "playlist_id": pid, "target": {"device_id": device_id}})  # fmt: skip
    manifest = api.call("GET", "/v1/device/manifest", token).json
    assert manifest["playlists"][0]["crossfade_ms"] == 10_000
    assert _playlist(api, admin).json["crossfade_ms"] == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [-1, 10_001, 1.5, "500", None, True])
def test_a_crossfade_outside_0_to_10000_is_refused_naming_the_field(
    api: Api, value: object
) -> None:
    admin = api.tenant()
    refused = _playlist(api, admin, crossfade_ms=value)
    assert refused.status_code == 422, refused.text  # type: ignore[attr-defined]
    assert "crossfade_ms" in refused.json["error"]["message"]  # type: ignore[attr-defined]
    assert api.call("GET", "/v1/playlists", admin).json["items"] == []
