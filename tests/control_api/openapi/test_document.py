"""The OpenAPI document: valid 3.1, covers every PROTOCOL.md endpoint, schemas fit the wire."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from openapi_spec_validator import validate

from control_api.docs_page import FILES
from control_api.openapi import build_openapi

REPO = Path(__file__).resolve().parents[3]
PROTOCOL = REPO.parent / "shared" / "PROTOCOL.md"
MANIFESTS = REPO / "tests" / "contract" / "manifests"

# Endpoints PROTOCOL.md names that the API does not serve yet, with the issue
# that builds them (round 2 added them to the contract ahead of the code).
PLANNED_ENDPOINTS: dict[tuple[str, str], str] = {}

# Every endpoint of PROTOCOL.md that the API serves, path parameters normalised to {}.
PROTOCOL_ENDPOINTS = {
    ("post", "/v1/assets"),
    ("get", "/v1/assets"),
    ("get", "/v1/assets/{}"),
    ("patch", "/v1/assets/{}"),
    ("delete", "/v1/assets/{}"),
    ("post", "/v1/playlists"),
    ("get", "/v1/playlists"),
    ("get", "/v1/playlists/{}"),
    ("put", "/v1/playlists/{}"),
    ("delete", "/v1/playlists/{}"),
    ("post", "/v1/devices"),
    ("get", "/v1/devices"),
    ("get", "/v1/devices/{}"),
    ("patch", "/v1/devices/{}"),
    ("delete", "/v1/devices/{}"),
    ("post", "/v1/devices/{}/enrollment-code"),
    ("post", "/v1/devices/{}/commands"),
    ("get", "/v1/devices/{}/commands/{}"),
    ("post", "/v1/schedules"),
    ("get", "/v1/schedules"),
    ("get", "/v1/schedules/{}"),
    ("put", "/v1/schedules/{}"),
    ("delete", "/v1/schedules/{}"),
    ("get", "/v1/plays"),
    ("post", "/v1/enroll"),
    ("get", "/v1/device/manifest"),
    ("get", "/v1/media/{}"),
    ("head", "/v1/media/{}"),
    ("post", "/v1/device/telemetry"),
    ("post", "/v1/device/plays"),
    ("get", "/healthz"),
    ("head", "/healthz"),  # load balancers probe with HEAD
    ("get", "/metrics"),
    ("get", "/v1/openapi.json"),
    ("post", "/v1/overrides"),
    ("delete", "/v1/overrides/{}"),
}
# Served and documented beyond PROTOCOL.md: the rendered reference and its files,
# the reads of overrides, the list of a device's commands (the panel's), and the
# device's side of remote commands (its pick-up and acknowledgement, documented in
# docs/ and the OpenAPI document; PROTOCOL.md names the director's).
NOT_IN_PROTOCOL = (
    {("get", "/v1/docs")}
    | {("get", path) for path in FILES}
    | {("get", "/v1/overrides"), ("get", "/v1/overrides/{}")}
    | {("get", "/v1/device/commands"), ("post", "/v1/device/commands/{}")}
    # Issue 13, alerts: PROTOCOL.md names no endpoints for them (docs/ALERTS.md).
    | {("get", "/v1/webhooks"), ("post", "/v1/webhooks")}
    | {("get", "/v1/webhooks/{}"), ("delete", "/v1/webhooks/{}")}
    | {("get", "/v1/webhooks/{}/deliveries")}
    | {("get", "/v1/devices/{}/commands")}
    | {("get", "/v1/devices/{}/presence")}  # issue 13; PROTOCOL.md to follow (the lead)
    # Issue 13 (per-device broker credentials): PROTOCOL.md names it not yet.
    | {("post", "/v1/device/push-credentials")}
)
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, normalise(path))
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def validator_for(doc: dict[str, Any], schema_name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi()


def test_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises with the offending JSON path when invalid
    json.dumps(doc)  # plain JSON, servable as is


def test_documents_every_protocol_endpoint(doc: dict[str, Any]) -> None:
    assert documented(doc) == PROTOCOL_ENDPOINTS | NOT_IN_PROTOCOL


@pytest.mark.skipif(not PROTOCOL.exists(), reason="shared/PROTOCOL.md not beside the repo")
def test_endpoint_list_matches_protocol_md() -> None:
    """Guard against PROTOCOL.md growing an endpoint this test (and the doc) do not know."""
    text = PROTOCOL.read_text(encoding="utf-8")
    found: set[tuple[str, str]] = set()
    for methods, path in re.findall(r"`((?:[A-Z]+\|?)+) (/[^\s`?\[]+)", text):
        for method in methods.split("|"):
            found.add((method.lower(), normalise(path)))
    assert found, "no endpoint found in PROTOCOL.md: the pattern is out of date"
    assert found <= PROTOCOL_ENDPOINTS | set(PLANNED_ENDPOINTS)
    # A planned endpoint that PROTOCOL.md no longer names must leave the list.
    assert set(PLANNED_ENDPOINTS) <= found


def test_planned_endpoints_are_not_served_yet(doc: dict[str, Any]) -> None:
    """Once one is built it moves to PROTOCOL_ENDPOINTS (and this list shrinks)."""
    assert not set(PLANNED_ENDPOINTS) & documented(doc)


def test_every_operation_is_described(doc: dict[str, Any]) -> None:
    op_ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(op_ids) == len(set(op_ids))
    for method, path, op in operations(doc):
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), (method, path)
        security = op.get("security", doc["security"])
        if security:  # authenticated: 401 and 403 documented
            assert {"401", "403"} <= statuses, (method, path)
            for requirement in security:
                assert set(requirement) <= set(doc["components"]["securitySchemes"])
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= statuses, (method, path)


def test_error_responses_use_the_envelope(doc: dict[str, Any]) -> None:
    responses = doc["components"]["responses"]
    for method, path, op in operations(doc):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                name = response["$ref"].rsplit("/", 1)[-1]
                schema = responses[name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    error = validator_for(doc, "Error")
    assert error.is_valid({"error": {"code": "asset_in_use", "message": "used by pl-1"}})
    assert not error.is_valid({"error": {"message": "no code"}})
    assert not error.is_valid({"message": "flat"})


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]


@pytest.mark.parametrize("name", ["full.json", "delta_with_deletions.json", "future_fields.json"])
def test_golden_manifests_match_the_manifest_schema(doc: dict[str, Any], name: str) -> None:
    manifest = json.loads((MANIFESTS / "valid" / name).read_text(encoding="utf-8"))
    errors = [e.message for e in validator_for(doc, "Manifest").iter_errors(manifest)]
    assert errors == []


@pytest.mark.parametrize(
    "name",
    [
        "bad_end_time.json",
        "bad_sha256.json",
        "bad_weekday.json",
        "instant_without_zone.json",
        "negative_size.json",
        "not_an_object.json",
        "schema_2.json",
        "start_time_24.json",
        "wrong_type_full.json",
    ],
)
def test_malformed_manifests_fail_the_manifest_schema(doc: dict[str, Any], name: str) -> None:
    manifest = json.loads((MANIFESTS / "invalid" / name).read_text(encoding="utf-8"))
    assert not validator_for(doc, "Manifest").is_valid(manifest)


def test_schedule_target_forms(doc: dict[str, Any]) -> None:
    target = validator_for(doc, "Target")
    assert target.is_valid({"device_id": "dev-1"})
    assert target.is_valid({"group": "france"})
    assert target.is_valid({"all": True})
    assert not target.is_valid({"all": False})
    assert not target.is_valid({})


def test_play_upload_is_bounded(doc: dict[str, Any]) -> None:
    play = {
        "id": "6f1c2a3e-1d2b-4c5d-8e9f-0a1b2c3d4e5f",
        "asset_id": "ast-1",
        "sha256": "a" * 64,
        "started_at": "2026-12-01T09:00:00Z",
        "ended_at": "2026-12-01T09:03:00Z",
        "source": "playlist",
        "outcome": "completed",
    }
    upload = validator_for(doc, "PlaysUpload")
    assert upload.is_valid({"plays": [play] * 1000})
    assert not upload.is_valid({"plays": [play] * 1001})
    assert not upload.is_valid({"plays": [{**play, "source": "radio"}]})


def test_build_returns_independent_documents() -> None:
    first = build_openapi()
    first["paths"].clear()
    first["components"]["schemas"]["Asset"]["required"].clear()
    second = build_openapi()
    assert second["paths"]
    assert "sha256" in second["components"]["schemas"]["Asset"]["required"]
