"""Tokens, token kinds, tenants, enrollment codes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from control_api.store import repository as repo
from control_api.store.models import Device
from tests.control_api.conftest import Api, make_api
from tests.control_api.media_samples import wav
from tests.control_api.openapi_check import CheckedClient


def _catalogue(api: Api, admin: str) -> dict[str, str]:
    asset = api.upload(admin, wav(b"secret bytes")).json
    playlist = api.call(
        "POST", "/v1/playlists", admin, json={"name": "p", "items": [{"asset_id": asset["id"]}]}
    ).json
    device_id, _ = api.device(admin)
    schedule = api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={"playlist_id": playlist["id"], "target": {"all": True}},
    ).json
    return {
        "asset": asset["id"],
        "sha256": asset["sha256"],
        "playlist": playlist["id"],
        "device": device_id,
        "schedule": schedule["id"],
    }


def test_another_tenants_objects_are_404_on_every_route(api: Api) -> None:
    owner, intruder = api.tenant("a"), api.tenant("b")
    ids = _catalogue(api, owner)
    _, intruder_device = api.device(intruder)
    routes = [
        ("GET", f"/v1/assets/{ids['asset']}", None),
        ("PATCH", f"/v1/assets/{ids['asset']}", {"title": "x"}),
        ("DELETE", f"/v1/assets/{ids['asset']}", None),
        ("GET", f"/v1/playlists/{ids['playlist']}", None),
        ("PUT", f"/v1/playlists/{ids['playlist']}", {"name": "x", "items": []}),
        ("DELETE", f"/v1/playlists/{ids['playlist']}", None),
        ("GET", f"/v1/devices/{ids['device']}", None),
        ("PATCH", f"/v1/devices/{ids['device']}", {"name": "x"}),
        ("POST", f"/v1/devices/{ids['device']}/enrollment-code", None),
        ("GET", f"/v1/schedules/{ids['schedule']}", None),
        (
            "PUT",
            f"/v1/schedules/{ids['schedule']}",
            {"playlist_id": ids["playlist"], "target": {"all": True}},
        ),
        ("DELETE", f"/v1/schedules/{ids['schedule']}", None),
        ("GET", f"/v1/media/{ids['sha256']}", None),
    ]
    for method, path, body in routes:
        reply = api.call(method, path, intruder, json=body)
        if method == "PUT" and "schedules" in path:
            assert reply.status_code in (404, 422), path  # its playlist is unknown too
        else:
            assert reply.status_code == 404, (method, path, reply.text)
        assert reply.json["error"]["code"] in ("not_found", "unknown_playlist")
    assert api.call("GET", f"/v1/media/{ids['sha256']}", intruder_device).status_code == 404
    for path in ("/v1/assets", "/v1/playlists", "/v1/devices", "/v1/schedules", "/v1/plays"):
        seen = {item["id"] for item in api.call("GET", path, intruder).json["items"]}
        assert not seen & set(ids.values()), path
    # nothing changed for the owner
    assert api.call("GET", f"/v1/assets/{ids['asset']}", owner).json["title"] is None
    assert api.call("GET", f"/v1/schedules/{ids['schedule']}", owner).status_code == 200


def test_cross_tenant_references_in_bodies_are_refused(api: Api) -> None:
    owner, intruder = api.tenant("a"), api.tenant("b")
    ids = _catalogue(api, owner)
    reply = api.call(
        "POST", "/v1/playlists", intruder, json={"name": "p", "items": [{"asset_id": ids["asset"]}]}
    )
    assert reply.status_code == 422
    assert "items[0].asset_id" in reply.json["error"]["message"]
    reply = api.call(
        "POST",
        "/v1/schedules",
        intruder,
        json={"playlist_id": ids["playlist"], "target": {"all": True}},
    )
    assert reply.status_code == 422


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer " + "x" * 300]
)
def test_missing_or_invalid_tokens_are_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    reply = api.call("GET", "/v1/assets", headers=headers)
    assert reply.status_code == 401
    assert reply.json["error"]["code"] in ("missing_token", "invalid_token")


def test_tampered_token_is_401_and_wrong_kind_is_403(api: Api) -> None:
    admin = api.tenant()
    _, device = api.device(admin)
    tampered = admin[:-1] + ("A" if admin[-1] != "A" else "B")
    assert api.call("GET", "/v1/assets", tampered).status_code == 401
    assert api.call("GET", "/v1/assets", device).status_code == 403
    assert api.call("GET", "/v1/device/manifest", admin).status_code == 403
    assert api.call("POST", "/v1/device/plays", admin, json={"plays": []}).status_code == 403


def test_enrollment_code_is_one_time_and_reissue_revokes_the_token(api: Api) -> None:
    admin = api.tenant()
    created = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json
    assert created["enrolled"] is False
    code = created["enrollment_code"]
    first = api.call("POST", "/v1/enroll", json={"enrollment_code": code})
    assert first.status_code == 201
    token = first.json["device_token"]
    assert api.call("POST", "/v1/enroll", json={"enrollment_code": code}).status_code == 401
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200
    new = api.call("POST", f"/v1/devices/{created['id']}/enrollment-code", admin)
    assert new.status_code == 201
    assert api.call("GET", "/v1/device/manifest", token).status_code == 401
    again = api.call("POST", "/v1/enroll", json={"enrollment_code": new.json["enrollment_code"]})
    assert again.status_code == 201
    assert api.call("GET", "/v1/device/manifest", again.json["device_token"]).status_code == 200


def test_the_code_works_typed_lower_case_with_spaces_and_lookalikes(api: Api) -> None:
    admin = api.tenant()
    code = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json["enrollment_code"]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)
    typed = " ".join(code.lower().split("-")).replace("0", "o").replace("1", "l")
    enrolled = api.call("POST", "/v1/enroll", json={"enrollment_code": f" {typed} "})
    assert enrolled.status_code == 201, enrolled.text
    assert api.call("POST", "/v1/enroll", json={"enrollment_code": code}).status_code == 401


def test_a_code_issued_before_the_grouped_format_still_enrolls(api: Api) -> None:
    admin = api.tenant()
    device_id = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json["id"]
    legacy = "aB3dE5gH7jK9mN2p"  # 16 case-sensitive letters and digits, as issued before
    with api.db.write() as s:
        s.execute(
            update(Device).where(Device.id == device_id).values(code_hash=repo.hash_secret(legacy))
        )
    wrong_case = api.call("POST", "/v1/enroll", json={"enrollment_code": legacy.upper()})
    assert wrong_case.status_code == 401
    enrolled = api.call("POST", "/v1/enroll", json={"enrollment_code": legacy})
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json["device_id"] == device_id


def test_expired_enrollment_code_is_401(settings_env: dict[str, str]) -> None:
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    for api in _api_with_clock(settings_env, lambda: clock[0]):
        admin = api.tenant()
        code = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json["enrollment_code"]
        clock[0] += timedelta(days=8)
        reply = api.call("POST", "/v1/enroll", json={"enrollment_code": code})
        assert reply.status_code == 401


def _api_with_clock(env: dict[str, str], now: Callable[[], datetime]) -> Iterator[Api]:
    from control_api.app import create_app
    from control_api.settings import load_settings
    from control_api.store.db import Database

    settings = load_settings(env)
    db = Database(settings.database_url)
    db.upgrade()
    db.dispose()
    app = create_app(settings, now=now)
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


def test_failed_enrollments_lock_the_address_out(settings_env: dict[str, str]) -> None:
    for api in make_api(settings_env, enroll_max_failures=3):
        admin = api.tenant()
        code = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json["enrollment_code"]
        for _ in range(3):
            assert (
                api.call("POST", "/v1/enroll", json={"enrollment_code": "bad"}).status_code == 401
            )
        locked = api.call("POST", "/v1/enroll", json={"enrollment_code": "bad"})
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        # A valid code is never locked out (a shop behind the same NAT enrolls).
        assert api.call("POST", "/v1/enroll", json={"enrollment_code": code}).status_code == 201


def _enroll_from(api: Api, code: str, peer: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    reply = api.client.simulate_post(
        "/v1/enroll", json={"enrollment_code": code}, remote_addr=peer, headers=headers
    )
    return reply.status_code


def test_lockout_behind_a_trusted_proxy_keys_on_the_forwarded_client(
    settings_env: dict[str, str],
) -> None:
    proxy, attacker, technician = "10.0.0.5", "203.0.113.7", "198.51.100.20"
    env = {**settings_env, "LOMUZ_TRUSTED_PROXIES": f"{proxy}, 127.0.0.1"}
    for api in make_api(env, enroll_max_failures=3):
        admin = api.tenant()
        code = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json["enrollment_code"]
        for _ in range(3):
            assert _enroll_from(api, "bad", proxy, attacker) == 401
        assert _enroll_from(api, "bad", proxy, attacker) == 429
        # A spoofed header left of the proxy's entry does not get the attacker out.
        assert _enroll_from(api, "bad", proxy, f"{technician}, {attacker}") == 429
        # Another client behind the same proxy still enrolls.
        assert _enroll_from(api, code, proxy, technician) == 201


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings_env: dict[str, str]) -> None:
    attacker = "203.0.113.7"
    for api in make_api(settings_env, enroll_max_failures=3):  # no trusted proxies
        admin = api.tenant()
        code = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json["enrollment_code"]
        for i in range(3):
            assert _enroll_from(api, "bad", attacker, f"192.0.2.{i}") == 401
        # Rotating the header did not spread the failures: the peer is locked out.
        assert _enroll_from(api, "bad", attacker, "192.0.2.99") == 429
        assert _enroll_from(api, code, attacker, "192.0.2.99") == 201


def test_bad_trusted_proxies_setting_names_the_key(settings_env: dict[str, str]) -> None:
    from control_api.errors import ConfigError
    from control_api.settings import load_settings

    with pytest.raises(ConfigError, match=r"LOMUZ_TRUSTED_PROXIES.*'nginx'"):
        load_settings({**settings_env, "LOMUZ_TRUSTED_PROXIES": "10.0.0.1,nginx"})
