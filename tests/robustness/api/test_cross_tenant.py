"""Tenant isolation on every route of the OpenAPI document, and token kinds.

Every operation with a path parameter is called by another tenant's admin
(and, for media, its device) on tenant A's object: the answer must be 404 with
the error envelope, and A's object must be left exactly as it was. A route
added to the document without an entry in ``OBJECT_OF`` fails the suite, so
new routes cannot skip these checks.
"""

from __future__ import annotations

import hashlib
from typing import Any

from control_api.openapi import build_openapi
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.robustness.api.conftest import (
    METHODS,
    OBJECT_OF,
    Env,
    Tenant,
    concrete_path,
    error_of,
    seed_tenant,
)

DOC = build_openapi()


def valid_body(path: str, method: str, b: Tenant) -> Any:
    """A body tenant B could legitimately send, so only ownership decides the answer."""
    if method == "patch" and path.startswith("/v1/assets"):
        return {"title": "hijacked", "emergency": True}
    if method == "put" and path.startswith("/v1/playlists"):
        return {"name": "hijacked", "items": [{"asset_id": b.ids["asset"]}]}
    if method == "patch" and path.startswith("/v1/devices"):
        return {"name": "hijacked", "groups": ["elsewhere"]}
    if method == "put" and path.startswith("/v1/schedules"):
        return {"playlist_id": b.ids["playlist"], "target": {"all": True}, "priority": 9}
    if method == "post" and path == "/v1/devices/{id}/commands":
        return {"type": "skip"}
    if method == "post" and path == "/v1/device/commands/{command_id}":
        return {"state": "done", "result": {"hijacked": True}}
    return None


def snapshot(api: Api, a: Tenant) -> dict[str, Any]:
    """A's objects as A sees them (device liveness fields excluded: they move on their own)."""
    out: dict[str, Any] = {}
    for kind in ("asset", "playlist", "schedule", "device"):
        r = api.call("GET", f"/v1/{kind}s/{a.ids[kind]}", a.admin)
        assert r.status_code == 200, r.text
        body = dict(r.json)
        for volatile in ("last_seen_at", "online"):
            body.pop(volatile, None)
        out[kind] = body
    for path in (
        f"/v1/overrides/{a.ids['override']}",
        f"/v1/devices/{a.ids['device']}/commands/{a.ids['command']}",
    ):
        r = api.call("GET", path, a.admin)
        assert r.status_code == 200, r.text
        out[path] = r.json
    media = api.call("GET", f"/v1/media/{a.ids['sha256']}", a.device_token)
    assert media.status_code == 200
    out["media"] = hashlib.sha256(media.content).hexdigest()
    return out


def templated_operations() -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in DOC["paths"].items():
        if "{" not in path:
            continue
        for method in METHODS:
            if method in item:
                ops.append((path, method, item[method]))
    return ops


def test_every_templated_route_is_covered() -> None:
    templated = {path for path, _, _ in templated_operations()}
    assert templated, "the document has no templated routes?"
    assert templated <= set(OBJECT_OF), (
        f"new routes need a cross-tenant object: {sorted(templated - set(OBJECT_OF))}"
    )


def test_other_tenant_admin_gets_404_on_every_object_route_and_changes_nothing(env: Env) -> None:
    api = env.api
    a = seed_tenant(api, "alpha")
    b = seed_tenant(api, "beta")
    before = snapshot(api, a)
    called = []
    for path, method, op in templated_operations():
        concrete = concrete_path(path, a.ids)
        body = valid_body(path, method, b)
        security = op.get("security", DOC["security"])
        tokens = [b.admin] if {"adminToken": []} in security else []
        if {"deviceToken": []} in security:
            tokens.append(b.device_token)
        for token in tokens:
            r = api.call(method.upper(), concrete, token, json=body)
            assert r.status_code == 404, (method, concrete, r.status_code, r.text)
            if method != "head":
                error_of(r.status_code, r.headers.get("content-type"), r.content)
            called.append(f"{method.upper()} {path}")
    assert len(called) >= len(templated_operations())
    assert "DELETE /v1/devices/{id}" in called  # decommissioning another tenant's box
    # Nothing of A moved: not renamed, not deleted, its device token not revoked.
    assert snapshot(api, a) == before
    manifest = api.call("GET", "/v1/device/manifest", a.device_token)
    assert manifest.status_code == 200, manifest.text


def test_lists_never_show_another_tenants_objects(env: Env) -> None:
    api = env.api
    a = seed_tenant(api, "alpha")
    b = seed_tenant(api, "beta")
    a_ids = set(a.ids.values()) | {a.play_id}
    list_paths = [
        path
        for path, item in DOC["paths"].items()
        if "{" not in path
        and "get" in item
        and any(p.get("name") == "limit" for p in item["get"].get("parameters", []))
    ]
    assert {"/v1/assets", "/v1/playlists", "/v1/devices", "/v1/schedules", "/v1/plays"} <= set(
        list_paths
    )
    for path in list_paths:
        r = api.call("GET", path, b.admin, params={"limit": "1000"})
        assert r.status_code == 200, (path, r.text)
        seen = {item["id"] for item in r.json["items"]}
        assert seen, f"{path}: B sees none of its own objects"
        assert not seen & a_ids, (path, seen & a_ids)
        # Paging from the start of the id space still shows B only its own
        # (/v1/plays cursors are not ids: 422 there).
        r = api.call("GET", path, b.admin, params={"after": "YQ", "limit": "1000"})
        assert r.status_code in (200, 422), (path, r.text)
        if r.status_code == 200:
            assert not {item["id"] for item in r.json["items"]} & a_ids
    # Filters naming A's objects find nothing for B, in JSON and in CSV.
    for params in ({"device_id": a.ids["device"]}, {"asset_id": a.ids["asset"]}):
        r = api.call("GET", "/v1/plays", b.admin, params=params)
        assert r.status_code == 200, r.text
        assert r.json["items"] == []
        csv = api.call("GET", "/v1/plays", b.admin, params=params, headers={"Accept": "text/csv"})
        assert csv.status_code == 200
        assert len(csv.text.strip().splitlines()) == 1, csv.text
    csv = api.call("GET", "/v1/plays", b.admin, headers={"Accept": "text/csv"})
    assert a.play_id not in csv.text and b.play_id in csv.text


def test_device_of_another_tenant_sees_nothing_of_a(env: Env) -> None:
    api = env.api
    a = seed_tenant(api, "alpha")
    b = seed_tenant(api, "beta")
    for method in ("GET", "HEAD"):
        r = api.call(method, f"/v1/media/{a.ids['sha256']}", b.device_token)
        assert r.status_code == 404, r.status_code
        r = api.call(
            method, f"/v1/media/{a.ids['sha256']}", b.device_token, headers={"Range": "bytes=0-10"}
        )
        assert r.status_code == 404, r.status_code
    manifest = api.call("GET", "/v1/device/manifest", b.device_token)
    assert manifest.status_code == 200, manifest.text
    text = manifest.text
    for value in a.ids.values():
        assert value not in text
    assert manifest.json["device"]["id"] != a.ids["device"]
    # B's plays cannot be attributed to A's device, and A's play ids stay A's.
    r = api.call(
        "POST",
        "/v1/device/plays",
        b.device_token,
        json={
            "plays": [
                {
                    "id": a.play_id,
                    "asset_id": a.ids["asset"],
                    "sha256": a.ids["sha256"],
                    "started_at": "2026-11-23T11:00:00Z",
                    "ended_at": "2026-11-23T11:01:00Z",
                    "source": "playlist",
                    "outcome": "completed",
                }
            ]
        },
    )
    assert r.status_code in (200, 422), r.text
    a_plays = api.call("GET", "/v1/plays", a.admin).json["items"]
    assert [p["id"] for p in a_plays] == [a.play_id]
    assert a_plays[0]["device_id"] == a.ids["device"]
    assert a_plays[0]["started_at"] == "2026-11-23T10:00:00Z"


def test_references_to_another_tenants_objects_are_rejected(env: Env) -> None:
    api = env.api
    a = seed_tenant(api, "alpha")
    b = seed_tenant(api, "beta")
    r = api.call(
        "POST",
        "/v1/playlists",
        b.admin,
        json={"name": "x", "items": [{"asset_id": a.ids["asset"]}]},
    )
    assert r.status_code == 422, r.text
    assert error_of(r.status_code, r.headers.get("content-type"), r.content)["code"] == (
        "unknown_asset"
    )
    r = api.call(
        "POST",
        "/v1/schedules",
        b.admin,
        json={"playlist_id": a.ids["playlist"], "target": {"all": True}},
    )
    assert r.status_code == 422, r.text
    r = api.call(
        "POST",
        "/v1/schedules",
        b.admin,
        json={"playlist_id": b.ids["playlist"], "target": {"device_id": a.ids["device"]}},
    )
    assert r.status_code == 422, r.text
    # Nothing was created for B by those attempts.
    assert len(api.call("GET", "/v1/playlists", b.admin).json["items"]) == 1
    assert len(api.call("GET", "/v1/schedules", b.admin).json["items"]) == 1
    # Uploading A's exact bytes gives B its own asset, not A's.
    data = wav(b"alpha bytes " * 500)
    r = api.upload(b.admin, data, content_type="audio/wav")
    assert r.status_code == 201, r.text
    assert r.json["id"] != a.ids["asset"]


def _security(op: dict[str, Any]) -> list[dict[str, list[str]]]:
    return op.get("security", DOC["security"])  # type: ignore[no-any-return]


def test_token_kinds_admin_on_device_routes_and_device_on_director_routes(env: Env) -> None:
    api = env.api
    a = seed_tenant(api, "alpha")
    checked = {"admin_only": 0, "device_only": 0}
    for path, item in DOC["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            concrete = concrete_path(path, a.ids)
            security = _security(op)
            if security == [{"adminToken": []}]:
                wrong, kind = a.device_token, "admin_only"
            elif security == [{"deviceToken": []}]:
                wrong, kind = a.admin, "device_only"
            else:
                continue
            r = api.call(method.upper(), concrete, wrong, json={})
            assert r.status_code == 403, (method, concrete, r.status_code, r.text)
            if method != "head":
                err = error_of(r.status_code, r.headers.get("content-type"), r.content)
                assert err["code"] == "wrong_token_kind", err
            checked[kind] += 1
    assert checked["admin_only"] >= 15 and checked["device_only"] >= 3, checked
