"""HTTP details clients and proxies rely on: ``Location`` on every 201,
``WWW-Authenticate`` on every 401, ``HEAD /healthz``."""

from __future__ import annotations

import pytest

from tests.control_api.conftest import METRICS_TOKEN, Api
from tests.control_api.media_samples import wav


def test_every_created_object_is_named_by_location_and_can_be_read_there(api: Api) -> None:
    admin = api.tenant()
    asset = api.upload(admin, wav(b"\x01" * 2000), title="t")
    playlist = api.call(
        "POST", "/v1/playlists", admin,
        json={"name": "p", "items": [{"asset_id": asset.json["id"]}]},
    )  # fmt: skip
    schedule = api.call(
        "POST", "/v1/schedules", admin,
        json={"playlist_id": playlist.json["id"], "target": {"all": True}},
    )  # fmt: skip
    device = api.call("POST", "/v1/devices", admin, json={"name": "box"})
    for reply, collection in [
        (asset, "assets"), (playlist, "playlists"), (schedule, "schedules"), (device, "devices"),
    ]:  # fmt: skip
        assert reply.status_code == 201, reply.text
        location = reply.headers["Location"]
        assert location == f"/v1/{collection}/{reply.json['id']}"
        fetched = api.call("GET", location, admin)
        assert fetched.status_code == 200 and fetched.json["id"] == reply.json["id"]
    # The same bytes again: the existing asset, 200, no Location.
    again = api.upload(admin, wav(b"\x01" * 2000))
    assert again.status_code == 200 and "Location" not in again.headers


INVALID = 'Bearer realm="lomuz", error="invalid_token"'


@pytest.mark.parametrize(
    ("path", "headers", "challenge"),
    [
        ("/v1/assets", {}, 'Bearer realm="lomuz"'),
        ("/v1/assets", {"Authorization": "Bearer nope"}, INVALID),
        ("/v1/device/manifest", {"Authorization": "Basic eDp5"}, INVALID),
        ("/metrics", {"Authorization": "Bearer wrong"}, 'Bearer realm="metrics"'),
    ],
)  # fmt: skip
def test_every_401_names_the_bearer_scheme(
    api: Api, path: str, headers: dict[str, str], challenge: str
) -> None:
    reply = api.call("GET", path, headers=headers)
    assert reply.status_code == 401, reply.text
    assert reply.headers["WWW-Authenticate"] == challenge
    assert reply.json["error"]["code"] in {"missing_token", "invalid_token", "unauthorized"}


def test_a_bad_enrollment_code_is_a_401_with_a_challenge(api: Api) -> None:
    reply = api.call("POST", "/v1/enroll", json={"enrollment_code": "x" * 12})
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer ")


def test_head_healthz_answers_like_get_without_a_body(api: Api) -> None:
    got = api.call("GET", "/healthz")
    head = api.call("HEAD", "/healthz")
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert api.call("GET", "/metrics", METRICS_TOKEN).status_code == 200
