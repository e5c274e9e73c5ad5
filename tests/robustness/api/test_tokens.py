"""Bad credentials get a 401 JSON envelope: tampered tokens, revoked device
tokens, used and expired enrollment codes. And no route, whatever it is sent,
answers an error that is not the JSON envelope, or a 5xx."""

from __future__ import annotations

from typing import Any

from control_api.openapi import build_openapi
from control_api.store import repository as repo
from tests.robustness.api.conftest import METHODS, Env, concrete_path, error_of, seed_tenant

DOC = build_openapi()
TTL_S = 7 * 24 * 3600  # Settings.enrollment_code_ttl_s default


def tampered(token: str) -> list[str]:
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [
        flipped,
        token[:-1],
        token + "x",
        token.upper() if token.upper() != token else token.lower(),
        token[1:] + token[0],
        repo.hash_secret(token),  # the stored form must not work as a credential
        "x" * 201,
        "",
    ]


def status_and_error(
    env: Env, method: str, path: str, headers: dict[str, str], **kw: Any
) -> tuple[int, dict[str, str]]:
    r = env.api.client.simulate_request(method, path, headers=headers, **kw)
    return r.status_code, error_of(r.status_code, r.headers.get("content-type"), r.content)


def test_tampered_and_malformed_tokens_are_401(env: Env) -> None:
    a = seed_tenant(env.api, "alpha")
    routes = [
        ("GET", "/v1/assets"),
        ("GET", f"/v1/playlists/{a.ids['playlist']}"),
        ("GET", "/v1/device/manifest"),
        ("GET", f"/v1/media/{a.ids['sha256']}"),
    ]
    for token in (a.admin, a.device_token):
        for bad in tampered(token):
            for method, path in routes:
                status, err = status_and_error(
                    env, method, path, {"Authorization": f"Bearer {bad}"}
                )
                assert status == 401, (bad, path, status)
                assert err["code"] in ("invalid_token", "missing_token"), err
    for header in (None, "Basic " + a.admin, a.admin, "Bearer", "Token " + a.admin):
        headers = {} if header is None else {"Authorization": header}
        for method, path in routes:
            status, err = status_and_error(env, method, path, headers)
            assert status == 401, (header, path, status)
            assert err["code"] in ("invalid_token", "missing_token"), err
            assert a.admin not in err["message"]


def test_reissued_code_revokes_the_old_device_token_everywhere(env: Env) -> None:
    api = env.api
    a = seed_tenant(api, "alpha")
    old = a.device_token
    reissued = api.call("POST", f"/v1/devices/{a.ids['device']}/enrollment-code", a.admin)
    assert reissued.status_code == 201, reissued.text
    assert api.call("GET", f"/v1/devices/{a.ids['device']}", a.admin).json["enrolled"] is False
    device_routes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/v1/device/manifest", None),
        ("POST", "/v1/device/telemetry", {"cpu": 1}),
        ("POST", "/v1/device/plays", {"plays": []}),
        ("POST", "/v1/device/push-credentials", None),  # no broker account for it either
        ("GET", f"/v1/media/{a.ids['sha256']}", None),
        ("HEAD", f"/v1/media/{a.ids['sha256']}", None),
    ]
    for method, path, body in device_routes:
        r = api.call(method, path, old, json=body)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        if method != "HEAD":
            assert (
                error_of(r.status_code, r.headers.get("content-type"), r.content)["code"]
                == "invalid_token"
            )
    # The new code enrolls (the same device), once; the old token stays dead.
    code = reissued.json["enrollment_code"]
    enrolled = api.call("POST", "/v1/enroll", json={"enrollment_code": code})
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json["device_id"] == a.ids["device"]
    new = enrolled.json["device_token"]
    assert new != old
    assert api.call("GET", "/v1/device/manifest", new).status_code == 200
    assert api.call("GET", "/v1/device/manifest", old).status_code == 401
    again = api.call("POST", "/v1/enroll", json={"enrollment_code": code})
    assert again.status_code == 401
    assert (
        error_of(again.status_code, again.headers.get("content-type"), again.content)["code"]
        == "invalid_enrollment_code"
    )
    # A second re-issue revokes the token from the first re-enrollment too.
    assert (
        api.call("POST", f"/v1/devices/{a.ids['device']}/enrollment-code", a.admin).status_code
        == 201
    )
    assert api.call("GET", "/v1/device/manifest", new).status_code == 401


def test_enrollment_codes_expire(env: Env) -> None:
    api = env.api
    admin = api.tenant()
    codes = [
        api.call("POST", "/v1/devices", admin, json={"name": f"box{i}"}).json["enrollment_code"]
        for i in range(2)
    ]
    env.clock.advance(TTL_S - 1)
    assert api.call("POST", "/v1/enroll", json={"enrollment_code": codes[0]}).status_code == 201
    env.clock.advance(1)
    late = api.call("POST", "/v1/enroll", json={"enrollment_code": codes[1]})
    assert late.status_code == 401, late.text
    assert (
        error_of(late.status_code, late.headers.get("content-type"), late.content)["code"]
        == "invalid_enrollment_code"
    )
    devices = api.call("GET", "/v1/devices", admin).json["items"]
    assert sorted(d["enrolled"] for d in devices) == [False, True]


BODIES: list[bytes | None] = [
    None,
    b"",
    b"not json",
    b"[]",
    b'{"unexpected": true}',
    b'{"name": ' + b'"' + b"n" * 5000 + b'"}',
    b"\xff\xfe\x00",
]


def test_no_route_answers_an_error_outside_the_json_envelope(env: Env) -> None:
    a = seed_tenant(env.api, "alpha")
    tokens = [None, "garbage", a.admin, a.device_token]
    answered: dict[int, int] = {}
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            concrete = concrete_path(path, a.ids)
            for token in tokens:
                for body in BODIES:
                    headers = {"Content-Type": "application/json"}
                    if token is not None:
                        headers["Authorization"] = f"Bearer {token}"
                    r = env.api.client.simulate_request(
                        method.upper(),
                        concrete,
                        headers=headers,
                        body=body,
                        params={"limit": "0"} if method == "get" and "{" not in path else None,
                    )
                    answered[r.status_code] = answered.get(r.status_code, 0) + 1
                    assert r.status_code < 500, (method, concrete, token, body, r.text)
                    if r.status_code >= 400 and method != "head":
                        error_of(r.status_code, r.headers.get("content-type"), r.content)
    assert answered.get(401, 0) > 0 and answered.get(403, 0) > 0, answered
    # Routes and methods outside the document too.
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/v1/assets/x/y"),
        ("DELETE", "/v1/devices"),
        ("PUT", "/v1/assets"),
        ("POST", "/v1/device/manifest"),
        ("GET", "/v1/enroll"),
        ("PATCH", f"/v1/playlists/{a.ids['playlist']}"),
        ("GET", "/v1/assets?limit=abc"),
        ("GET", "/v1/assets?limit=1&limit=2"),
        ("GET", "/v1/assets?bogus=1"),
    ]:
        route, _, query = path.partition("?")
        r = env.api.client.simulate_request(
            method,
            route,
            query_string=query or None,
            headers={"Authorization": f"Bearer {a.admin}"},
        )
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        error_of(r.status_code, r.headers.get("content-type"), r.content)
