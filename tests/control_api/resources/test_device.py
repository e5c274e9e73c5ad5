"""Device side: telemetry and online, plays idempotency and export, media."""

from __future__ import annotations

import csv
import io
import uuid

from tests.control_api.conftest import METRICS_TOKEN, Api
from tests.control_api.media_samples import mp4, wav


def _play(
    asset: dict[str, str], started: str = "2026-03-01T10:00:00Z", **extra: str
) -> dict[str, str]:
    return {
        "id": str(uuid.uuid4()),
        "asset_id": asset["id"],
        "sha256": asset["sha256"],
        "started_at": started,
        "ended_at": started.replace("10:00", "10:03"),
        "source": "playlist",
        "outcome": "completed",
        **extra,
    }


def test_plays_are_idempotent_and_survive_asset_deletion(api: Api) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    plays = [_play(asset), _play(asset, "2026-03-01T11:00:00Z", future_field="x")]
    first = api.call("POST", "/v1/device/plays", token, json={"plays": plays})
    assert first.json == {"accepted": 2, "duplicates": 0, "rejected": []}
    again = api.call("POST", "/v1/device/plays", token, json={"plays": plays + plays[:1]})
    assert again.json == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert api.call("DELETE", f"/v1/assets/{asset['id']}", admin).status_code == 204
    # A play of an asset deleted since is still proof of play.
    late = api.call("POST", "/v1/device/plays", token, json={"plays": [_play(asset)]})
    assert late.json == {"accepted": 1, "duplicates": 0, "rejected": []}
    listed = api.call("GET", "/v1/plays", admin, params={"device_id": device_id}).json["items"]
    assert len(listed) == 3 and all(p["device_id"] == device_id for p in listed)
    window = api.call(
        "GET",
        "/v1/plays",
        admin,
        params={"from": "2026-03-01T10:30:00Z", "to": "2026-03-01T12:00:00Z"},
    ).json["items"]
    assert [p["id"] for p in window] == [plays[1]["id"]]


def test_a_batch_too_large_changes_nothing(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    too_many = {"plays": [_play(asset) for _ in range(1001)]}
    reply = api.call("POST", "/v1/device/plays", token, json=too_many)
    assert reply.status_code in (413, 422)
    assert api.call("GET", "/v1/plays", admin).json["items"] == []


def test_csv_export_has_the_same_fields(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    api.call("POST", "/v1/device/plays", token, json={"plays": [_play(asset)]})
    reply = api.call("GET", "/v1/plays", admin, headers={"Accept": "text/csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    as_json = api.call("GET", "/v1/plays", admin).json["items"]
    assert list(rows[0]) == list(as_json[0])
    assert rows[0]["id"] == as_json[0]["id"] and rows[0]["schedule_id"] == ""


def test_telemetry_sets_status_and_online(api: Api) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    assert (
        api.call(
            "POST", "/v1/device/telemetry", token, json={"now_playing": "x", "cpu": 0.5}
        ).status_code
        == 204
    )
    device = api.call("GET", f"/v1/devices/{device_id}", admin).json
    assert device["online"] is True and device["enrolled"] is True
    assert device["status"] == {"now_playing": "x", "cpu": 0.5}
    json_type = {"Content-Type": "application/json"}
    assert (
        api.call("POST", "/v1/device/telemetry", token, body=b"nope", headers=json_type).status_code
        == 400
    )
    # A body that is not sent as JSON is not parsed as JSON.
    for content_type in (None, "text/xml", "application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type} if content_type else {}
        refused = api.call(
            "POST", "/v1/device/telemetry", token, body=b'{"cpu": 0.1}', headers=headers
        )
        assert refused.status_code == 415, refused.text
        assert refused.json["error"]["code"] == "unsupported_media_type"
    assert api.call(
        "POST", "/v1/device/telemetry", token, body=b'{"cpu": 0.2}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    ).status_code == 204  # fmt: skip
    assert api.call("GET", f"/v1/devices/{device_id}", admin).json["status"] == {"cpu": 0.2}
    metrics = api.call("GET", "/metrics", METRICS_TOKEN).text
    assert "lomuz_devices_online 1.0" in metrics


def test_media_served_with_ranges_to_the_tenant_only(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    video = mp4(b"0123456789")
    asset = api.upload(admin, video, "video/mp4").json
    path = f"/v1/media/{asset['sha256']}"
    full = api.call("GET", path, token)
    assert full.status_code == 200 and full.content == video
    part = api.call("GET", path, admin, headers={"Range": "bytes=2-4"})
    assert part.status_code == 206 and part.content == video[2:5]
    beyond = f"bytes={len(video) + 50}-"
    assert api.call("GET", path, token, headers={"Range": beyond}).status_code == 416
    assert api.call("GET", "/v1/media/../../etc/passwd", token).status_code == 404
    assert api.call("GET", "/v1/media/" + "0" * 64, token).status_code == 404


def test_csv_export_neutralises_formulas(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    hostile = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok=1"]
    plays = [
        _play(asset, f"2026-03-01T1{i}:00:00Z", schedule_id=cell, playlist_id=cell)
        for i, cell in enumerate(hostile)
    ]
    stored = api.call("POST", "/v1/device/plays", token, json={"plays": plays})
    assert stored.json["accepted"] == len(hostile), stored.text
    reply = api.call("GET", "/v1/plays", admin, headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(reply.text, newline="")))
    assert [r["schedule_id"] for r in rows] == [f"'{c}" for c in hostile[:-1]] + ["ok=1"]
    assert [r["playlist_id"] for r in rows] == [r["schedule_id"] for r in rows]
    # JSON keeps the values as sent.
    as_json = api.call("GET", "/v1/plays", admin).json["items"]
    assert [p["schedule_id"] for p in as_json] == hostile
