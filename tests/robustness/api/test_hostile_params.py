"""Hostile path and query parameters and headers: 4xx, never 5xx, nothing orphaned.
SQLite and PostgreSQL (which refuses NUL in text)."""

from __future__ import annotations

import base64
import logging

import pytest

from tests.control_api.media_samples import wav
from tests.robustness.api.conftest import Env, error_of, seed_tenant


def _ok_4xx(reply: object) -> int:
    status: int = reply.status_code  # type: ignore[attr-defined]
    assert 400 <= status < 500, (status, reply.text[:300])  # type: ignore[attr-defined]
    error_of(status, reply.headers.get("content-type"), reply.content)  # type: ignore[attr-defined]
    return status


def test_nul_and_long_path_and_query_parameters(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    t = seed_tenant(env.api, "a")
    api = env.api
    cursor_with_nul = base64.urlsafe_b64encode(b"2026-01-01T00:00:00Z|\x00").decode()
    for method, path, token, params in [
        ("GET", "/v1/assets/%00", t.admin, None),
        ("PATCH", "/v1/devices/dev%00x", t.admin, None),
        ("DELETE", "/v1/playlists/" + "p" * 5000, t.admin, None),
        ("GET", "/v1/schedules/%00", t.admin, None),
        ("GET", "/v1/plays", t.admin, {"device_id": "\x00"}),
        ("GET", "/v1/plays", t.admin, {"asset_id": "a\x00"}),
        ("GET", "/v1/plays", t.admin, {"after": cursor_with_nul}),
        ("GET", "/v1/plays", t.admin, {"from": "0001-01-01T00:00:00+01:00"}),
        ("GET", "/v1/plays", t.admin, {"to": "9999-12-31T23:59:59-05:00"}),
        ("GET", "/v1/devices", t.admin, {"after": base64.b64encode(b"\x00").decode()}),
        ("GET", "/v1/device/manifest", t.device_token, {"since": "\x00"}),
    ]:
        reply = api.call(method, path, token, params=params)
        _ok_4xx(reply)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_long_content_type_is_refused_before_the_file_is_written(env: Env) -> None:
    admin = env.api.tenant()
    reply = env.api.upload(admin, wav(b"song bytes"), content_type="audio/" + "x" * 300)
    assert _ok_4xx(reply) == 415
    assert env.stored_files() == []
    reply = env.api.upload(admin, wav(b"song bytes"), filename="f" * 256)
    assert _ok_4xx(reply) == 422
    reply = env.api.upload(admin, wav(b"song bytes"), title="t\x00")
    assert _ok_4xx(reply) == 422
    assert env.stored_files() == []


def test_groups_are_bounded(env: Env) -> None:
    admin = env.api.tenant()
    too_many = env.api.call(
        "POST", "/v1/devices", admin, json={"name": "box", "groups": [f"g{i}" for i in range(101)]}
    )
    assert _ok_4xx(too_many) == 422 and "groups" in too_many.json["error"]["message"]
    too_long = env.api.call(
        "POST", "/v1/devices", admin, json={"name": "box", "groups": ["g" * 101]}
    )
    assert _ok_4xx(too_long) == 422 and "groups[0]" in too_long.json["error"]["message"]
    ok = env.api.call(
        "POST", "/v1/devices", admin, json={"name": "box", "groups": [f"g{i}" for i in range(100)]}
    )
    assert ok.status_code == 201, ok.text


def test_telemetry_nan_is_400_and_nul_is_422(env: Env) -> None:
    t = seed_tenant(env.api, "a")
    for raw, status in [
        (b'{"volume": NaN}', 400),
        (b'{"volume": Infinity}', 400),
        (b'{"volume": 1e999}', 400),
        (b'{"state": "\\u0000"}', 422),
        (b'{"\\u0000": 1}', 422),
        (b'{"state": "\\ud800"}', 400),
    ]:
        reply = env.api.call(
            "POST",
            "/v1/device/telemetry",
            t.device_token,
            body=raw,
            headers={"Content-Type": "application/json"},
        )
        assert _ok_4xx(reply) == status, raw


def test_every_answer_says_nosniff(env: Env) -> None:
    t = seed_tenant(env.api, "a")
    for path, token in [
        ("/healthz", None),
        ("/v1/assets", t.admin),
        ("/v1/assets/nope", t.admin),
        (f"/v1/media/{t.ids['sha256']}", t.device_token),
    ]:
        reply = env.api.call("GET", path, token)
        assert reply.headers.get("x-content-type-options") == "nosniff", path
