"""Small protocol rules that hostile or sloppy clients hit: strong If-Match,
IANA zones only, items of at least 1 s, private media caching."""

from __future__ import annotations

import hashlib

import pytest

from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav


def test_a_weak_if_match_never_matches(api: Api) -> None:
    admin = api.tenant()
    asset = api.upload(admin, wav(b"song")).json
    body = {"name": "p", "items": [{"asset_id": asset["id"]}]}
    pid = api.call("POST", "/v1/playlists", admin, json=body).json["id"]
    path = f"/v1/playlists/{pid}"
    weak = api.call("PUT", path, admin, json=body, headers={"If-Match": 'W/"1"'})
    assert weak.status_code == 412, weak.text
    strong = api.call("PUT", path, admin, json=body, headers={"If-Match": 'W/"9", "1"'})
    assert strong.status_code == 200, strong.text
    assert api.call("DELETE", path, admin, headers={"If-Match": 'W/"2"'}).status_code == 412
    assert api.call("DELETE", path, admin, headers={"If-Match": "*"}).status_code == 204


@pytest.mark.parametrize(
    "zone", ["localtime", "Factory", "posixrules", "posix/Europe/Paris", "right/UTC", "Mars/Base"]
)
def test_only_iana_zones_of_the_world(api: Api, zone: str) -> None:
    admin = api.tenant()
    reply = api.call("POST", "/v1/devices", admin, json={"name": "b", "timezone": zone})
    assert reply.status_code == 422 and "timezone" in reply.json["error"]["message"], zone


def test_durations_below_one_second_are_refused(api: Api) -> None:
    admin = api.tenant()
    asset = api.upload(admin, wav(b"song")).json
    for duration in (0, 1, 999):
        item = {"asset_id": asset["id"], "duration_ms": duration}
        reply = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": [item]})
        assert reply.status_code == 422 and "items[0].duration_ms" in reply.text
        patch = api.call(
            "PATCH", f"/v1/assets/{asset['id']}", admin, json={"duration_ms": duration}
        )
        assert patch.status_code == 422 and "duration_ms" in patch.text
    item = {"asset_id": asset["id"], "duration_ms": 1000}
    assert (
        api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": [item]}).status_code
        == 201
    )
    patch = api.call("PATCH", f"/v1/assets/{asset['id']}", admin, json={"duration_ms": 1000})
    assert patch.status_code == 200


def test_media_is_cached_privately(api: Api) -> None:
    admin = api.tenant()
    api.upload(admin, wav(b"song"))
    reply = api.call("GET", f"/v1/media/{hashlib.sha256(wav(b'song')).hexdigest()}", admin)
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert reply.headers["x-content-type-options"] == "nosniff"
