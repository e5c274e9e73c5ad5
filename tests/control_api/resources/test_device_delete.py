"""DELETE /v1/devices/{id}: the device is decommissioned (gone from the API, its
token dead at once), its proof of play stays, and nothing brings it back."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from typing import Any

from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav


def _device_with_a_play(api: Api) -> tuple[str, str, str, str]:
    """(admin, device id, device token, play id): one completed play stored."""
    admin = api.tenant()
    data = b"a song " * 200
    asset = api.upload(admin, wav(data), content_type="audio/wav").json
    device_id, token = api.device(admin, name="till 3")
    play_id = str(uuid.uuid4())
    reply = api.call(
        "POST",
        "/v1/device/plays",
        token,
        json={
            "plays": [
                {
                    "id": play_id,
                    "asset_id": asset["id"],
                    "sha256": asset["sha256"],
                    "started_at": "2026-11-23T10:00:00Z",
                    "ended_at": "2026-11-23T10:03:00Z",
                    "source": "playlist",
                    "outcome": "completed",
                }
            ]
        },
    )
    assert reply.json["accepted"] == 1, reply.text
    return admin, device_id, token, play_id


def _csv_rows(api: Api, admin: str, **params: str) -> list[dict[str, str]]:
    reply = api.call("GET", "/v1/plays", admin, params=params, headers={"Accept": "text/csv"})
    assert reply.status_code == 200
    return list(csv.DictReader(io.StringIO(reply.text)))


def test_deleted_device_is_gone_its_token_dead_its_plays_kept(api: Api) -> None:
    admin, device_id, token, play_id = _device_with_a_play(api)
    kept, _ = api.device(admin, name="till 4")
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200

    reply = api.call("DELETE", f"/v1/devices/{device_id}", admin)
    assert reply.status_code == 204, reply.text
    assert reply.content == b""

    assert api.call("GET", f"/v1/devices/{device_id}", admin).status_code == 404
    listed = [d["id"] for d in api.call("GET", "/v1/devices", admin).json["items"]]
    assert listed == [kept]
    for method, path, body in (
        ("GET", "/v1/device/manifest", None),
        ("POST", "/v1/device/telemetry", {"cpu": 1}),
        ("POST", "/v1/device/plays", {"plays": []}),
    ):
        r = api.call(method, path, token, json=body)
        assert r.status_code == 401, (path, r.text)
        assert r.json["error"]["code"] == "invalid_token"

    plays = api.call("GET", "/v1/plays", admin, params={"device_id": device_id}).json["items"]
    assert [(p["id"], p["device_id"]) for p in plays] == [(play_id, device_id)]
    rows = _csv_rows(api, admin, device_id=device_id)
    assert [(r["id"], r["device_id"]) for r in rows] == [(play_id, device_id)]


def test_a_deleted_device_cannot_come_back(api: Api) -> None:
    admin = api.tenant()
    created = api.call("POST", "/v1/devices", admin, json={"name": "never enrolled"}).json
    device_id = created["id"]
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204

    # Its pending code no longer enrolls; nothing names it any more.
    r = api.call("POST", "/v1/enroll", json={"enrollment_code": created["enrollment_code"]})
    assert r.status_code == 401, r.text
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 404
    assert (
        api.call("PATCH", f"/v1/devices/{device_id}", admin, json={"name": "back"}).status_code
        == 404
    )
    assert api.call("POST", f"/v1/devices/{device_id}/enrollment-code", admin).status_code == 404
    playlist = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": []}).json
    r = api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={"playlist_id": playlist["id"], "target": {"device_id": device_id}},
    )
    assert r.status_code == 422
    assert r.json["error"]["code"] == "unknown_device"
    # A new device never gets the deleted one's id.
    again = api.call("POST", "/v1/devices", admin, json={"name": "never enrolled"}).json
    assert again["id"] != device_id


def test_a_device_a_schedule_targets_is_not_deleted(api: Api) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    playlist = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": []}).json
    schedule = api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={"playlist_id": playlist["id"], "target": {"device_id": device_id}},
    ).json
    # A group or "all" schedule does not name the device: only the device target blocks.
    api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={"playlist_id": playlist["id"], "target": {"all": True}},
    )

    r = api.call("DELETE", f"/v1/devices/{device_id}", admin)
    assert r.status_code == 409, r.text
    err: dict[str, Any] = r.json["error"]
    assert err["code"] == "device_scheduled"
    assert schedule["id"] in err["message"]
    # Nothing changed: the device is listed and its token works.
    assert api.call("GET", f"/v1/devices/{device_id}", admin).status_code == 200
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200

    assert api.call("DELETE", f"/v1/schedules/{schedule['id']}", admin).status_code == 204
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
    assert api.call("GET", "/v1/device/manifest", token).status_code == 401


def test_only_the_tenants_admin_deletes(api: Api) -> None:
    admin = api.tenant("a")
    other = api.tenant("b")
    device_id, token = api.device(admin)
    assert api.call("DELETE", f"/v1/devices/{device_id}", other).status_code == 404
    assert api.call("DELETE", f"/v1/devices/{device_id}", token).status_code == 403
    assert api.call("DELETE", "/v1/devices/dev_unknown", admin).status_code == 404
    assert api.call("GET", f"/v1/devices/{device_id}", admin).status_code == 200
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200


def _race_delete_and_schedule(api: Api, admin: str, playlist_id: str, device_id: str) -> Any:
    """(DELETE status, POST /v1/schedules status) sent at once."""
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def delete() -> None:
        barrier.wait(timeout=10)
        answers["delete"] = api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code

    def schedule() -> None:
        barrier.wait(timeout=10)
        answers["schedule"] = api.call(
            "POST",
            "/v1/schedules",
            admin,
            json={"playlist_id": playlist_id, "target": {"device_id": device_id}},
        ).status_code

    threads = [threading.Thread(target=delete), threading.Thread(target=schedule)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers.get("delete"), answers.get("schedule")


def test_a_schedule_racing_the_delete_never_targets_a_deleted_device(api: Api) -> None:
    """Either the schedule lands first (the delete gets 409) or the delete does
    (the schedule gets 422): never both 2xx."""
    admin = api.tenant()
    playlist = api.call("POST", "/v1/playlists", admin, json={"name": "p", "items": []}).json
    for _ in range(10):
        device_id = api.call("POST", "/v1/devices", admin, json={"name": "box"}).json["id"]
        outcome = _race_delete_and_schedule(api, admin, playlist["id"], device_id)
        assert outcome in {(409, 201), (204, 422)}, outcome
        exists = api.call("GET", f"/v1/devices/{device_id}", admin).status_code
        assert exists == (200 if outcome == (409, 201) else 404)
