"""Director endpoints: validation, limits, optimistic concurrency, conflicts, lists."""

from __future__ import annotations

import pytest

from tests.control_api.conftest import Api
from tests.control_api.media_samples import mp4, png, wav


def test_upload_dedupes_per_tenant_and_validates(api: Api) -> None:
    admin, other = api.tenant("a"), api.tenant("b")
    first = api.upload(
        admin,
        wav(b"abc"),
        "audio/wav",
        title="Song",
        emergency="true",
        valid_from="2026-01-01T00:00:00+01:00",
    )
    assert first.status_code == 201
    assert first.json["valid_from"] == "2025-12-31T23:00:00Z"
    assert first.json["emergency"] is True and first.json["media_type"] == "audio"
    again = api.upload(admin, wav(b"abc"), "audio/x-wav")
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert api.upload(other, wav(b"abc"), "audio/wav").status_code == 201
    assert api.upload(admin, wav(b"abc"), "application/pdf").status_code == 415
    bad = api.upload(admin, png(b"new"), "image/png", valid_until="tomorrow")
    assert bad.status_code == 422 and "valid_until" in bad.json["error"]["message"]
    bad = api.upload(admin, png(b"new"), "image/png", color="red")
    assert bad.status_code == 422 and "color" in bad.json["error"]["message"]
    too_big = api.upload(admin, mp4(b"x" * 100_001), "video/mp4")
    assert too_big.status_code == 413
    assert len(api.call("GET", "/v1/assets", admin).json["items"]) == 1


def test_json_bodies_malformed_wrong_types_unknown_fields_oversize(api: Api) -> None:
    admin = api.tenant()
    cases = [
        (b"{not json", 400, "malformed_json"),
        (b"[1, 2]", 422, None),
        (b'{"name": 5, "items": []}', 422, "name"),
        (b'{"name": "p", "items": [], "colour": 1}', 422, "colour"),
        (
            b'{"name": "p", "items": [{"asset_id": "x", "duration_ms": "long"}]}',
            422,
            "items[0].duration_ms",
        ),
        (b'{"name": "p"}', 422, "items"),
    ]
    for body, status, needle in cases:
        reply = api.call(
            "POST", "/v1/playlists", admin, body=body, headers={"Content-Type": "application/json"}
        )
        assert reply.status_code == status, (body, reply.text)
        if needle:
            assert needle in reply.json["error"]["message"] + reply.json["error"]["code"]
    big = b'{"name": "' + b"x" * 5000 + b'", "items": []}'
    assert api.call("POST", "/v1/playlists", admin, body=big).status_code == 413
    assert api.call("GET", "/v1/playlists", admin).json["items"] == []


def test_playlist_if_match_and_409_rules(api: Api) -> None:
    admin = api.tenant()
    asset = api.upload(admin, wav(b"a")).json
    created = api.call(
        "POST", "/v1/playlists", admin, json={"name": "p", "items": [{"asset_id": asset["id"]}]}
    )
    assert created.headers["etag"] == '"1"'
    pid = created.json["id"]
    body = {"name": "q", "items": [{"asset_id": asset["id"], "duration_ms": 5000}]}
    ok = api.call("PUT", f"/v1/playlists/{pid}", admin, json=body, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json["version"] == 2 and ok.headers["etag"] == '"2"'
    stale = api.call(
        "PUT",
        f"/v1/playlists/{pid}",
        admin,
        json={"name": "z", "items": []},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert api.call("GET", f"/v1/playlists/{pid}", admin).json["name"] == "q"
    in_use = api.call("DELETE", f"/v1/assets/{asset['id']}", admin)
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "asset_in_use"
    schedule = api.call(
        "POST", "/v1/schedules", admin, json={"playlist_id": pid, "target": {"all": True}}
    ).json
    scheduled = api.call("DELETE", f"/v1/playlists/{pid}", admin)
    assert scheduled.status_code == 409 and scheduled.json["error"]["code"] == "playlist_in_use"
    assert api.call("DELETE", f"/v1/schedules/{schedule['id']}", admin).status_code == 204
    assert api.call("DELETE", f"/v1/playlists/{pid}", admin).status_code == 204
    assert api.call("DELETE", f"/v1/assets/{asset['id']}", admin).status_code == 204
    assert api.call("GET", f"/v1/assets/{asset['id']}", admin).status_code == 404


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"start_time": "24:00"}, "start_time"),
        ({"end_time": "25:00"}, "end_time"),
        ({"days": [0]}, "days[0]"),
        ({"days": []}, "days"),
        ({"priority": "high"}, "priority"),
        ({"target": {"group": "a", "all": True}}, "target"),
        ({"target": {"all": False}}, "target.all"),
        ({"target": {"device_id": "nope"}}, "target.device_id"),
        (
            {"valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"},
            "valid_until",
        ),
        ({"start_time": "08:00", "end_time": "08:00"}, "end_time"),
    ],
)
def test_schedule_validation_names_the_field(
    api: Api, patch: dict[str, object], field: str
) -> None:
    admin = api.tenant()
    pid = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": []}).json["id"]
    reply = api.call(
        "POST", "/v1/schedules", admin, json={"playlist_id": pid, "target": {"all": True}, **patch}
    )
    assert reply.status_code == 422
    assert reply.json["error"]["message"].startswith(field + ":")
    assert api.call("GET", "/v1/schedules", admin).json["items"] == []


def test_schedule_put_if_match_and_defaults(api: Api) -> None:
    admin = api.tenant()
    pid = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": []}).json["id"]
    created = api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={
            "playlist_id": pid,
            "target": {"group": "north"},
            "start_time": "22:00",
            "end_time": "06:00",
        },
    ).json
    assert created["days"] == [1, 2, 3, 4, 5, 6, 7] and created["priority"] == 0
    body = {"playlist_id": pid, "target": {"all": True}, "end_time": "24:00"}
    path = f"/v1/schedules/{created['id']}"
    assert api.call("PUT", path, admin, json=body, headers={"If-Match": '"7"'}).status_code == 412
    ok = api.call("PUT", path, admin, json=body, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json["target"] == {"all": True} and ok.json["version"] == 2


def test_devices_timezone_and_groups(api: Api) -> None:
    admin = api.tenant()
    bad = api.call("POST", "/v1/devices", admin, json={"name": "b", "timezone": "Mars/Base"})
    assert bad.status_code == 422 and "timezone" in bad.json["error"]["message"]
    created = api.call(
        "POST",
        "/v1/devices",
        admin,
        json={"name": "b", "timezone": "Europe/Paris", "groups": ["x", "x", "a"]},
    )
    assert created.status_code == 201 and created.json["groups"] == ["a", "x"]
    path = f"/v1/devices/{created.json['id']}"
    assert api.call("PATCH", path, admin, json={"timezone": "../etc/passwd"}).status_code == 422
    assert api.call("PATCH", path, admin, json={"groups": "x"}).status_code == 422
    assert api.call("GET", path, admin).json["timezone"] == "Europe/Paris"


def test_lists_page_with_an_opaque_cursor(api: Api) -> None:
    admin = api.tenant()
    made = [api.upload(admin, wav(f"m{i}".encode())).json["id"] for i in range(5)]
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": "2", **({"after": after} if after else {})}
        page = api.call("GET", "/v1/assets", admin, params=params).json
        seen += [a["id"] for a in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == made
    assert api.call("GET", "/v1/assets", admin, params={"limit": "0"}).status_code == 422
    assert api.call("GET", "/v1/assets", admin, params={"after": "%%%"}).status_code in (200, 422)


def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    reply = api.call("GET", "/v2/nothing")
    assert reply.status_code == 404 and reply.json["error"]["code"] == "not_found"
    reply = api.call("PATCH", "/v1/playlists", api.tenant())
    assert reply.status_code == 405 and reply.json["error"]["code"] == "method_not_allowed"
    assert api.call("GET", "/healthz").json == {"status": "ok"}
    assert api.call("GET", "/v1/openapi.json").json["openapi"].startswith("3.1")


def test_an_empty_upload_stores_nothing(api: Api) -> None:
    admin = api.tenant()
    reply = api.call(
        "POST",
        "/v1/assets",
        admin,
        body=b"",
        headers={"Content-Type": "audio/mpeg", "Content-Length": "0"},
    )
    assert reply.status_code == 400 and reply.json["error"]["code"] == "empty_body"
    assert api.call("GET", "/v1/assets", admin).json["items"] == []
    no_length = api.call(
        "POST", "/v1/assets", admin, body=b"", headers={"Content-Type": "audio/mpeg"}
    )
    assert no_length.status_code == 411
    assert api.call("GET", "/v1/assets", admin).json["items"] == []
