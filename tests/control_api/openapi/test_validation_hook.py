"""The hook that checks every API test's answers (openapi_check) fails when it must.

A stand-in app answers on documented paths with what the document does not
describe; the checked client must refuse each answer, naming method, path,
status and the schema error.
"""

from __future__ import annotations

from typing import Any

import falcon
import pytest

from tests.control_api.conftest import Api
from tests.control_api.openapi_check import CheckedClient, OpenApiMismatchError, path_template

GOOD_HEALTH = {"status": "ok"}


class Canned:
    """Answers every GET with the status and JSON body it was given."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        resp.status = self.status
        resp.media = self.body


def client_for(path: str, status: int, body: Any) -> CheckedClient:
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App()
    app.add_route(path, Canned(status, body))
    return CheckedClient(app)


def test_a_documented_answer_passes() -> None:
    result = client_for("/healthz", 200, GOOD_HEALTH).simulate_get("/healthz")
    assert result.json == GOOD_HEALTH


def test_an_undocumented_status_fails_naming_method_path_and_status() -> None:
    client = client_for("/healthz", 418, GOOD_HEALTH)
    with pytest.raises(OpenApiMismatchError, match=r"GET /healthz \(/healthz\) -> 418: status"):
        client.simulate_get("/healthz")


def test_a_body_that_violates_the_schema_fails_naming_the_error() -> None:
    client = client_for("/healthz", 200, {"status": "bad"})
    with pytest.raises(OpenApiMismatchError, match=r"GET /healthz .*-> 200.* at status: 'bad'"):
        client.simulate_get("/healthz")


def test_a_missing_required_field_fails() -> None:
    client = client_for("/v1/assets/{asset_id}", 200, {"id": "ast-1"})
    with pytest.raises(OpenApiMismatchError, match=r"/v1/assets/\{id\}\) -> 200.*'sha256'"):
        client.simulate_get("/v1/assets/ast-1")


def test_an_error_body_outside_the_envelope_fails() -> None:
    client = client_for("/v1/assets/{asset_id}", 404, {"message": "flat"})
    with pytest.raises(OpenApiMismatchError, match=r"-> 404.*'error' is a required property"):
        client.simulate_get("/v1/assets/nope")


def test_an_operation_the_document_lacks_fails_unless_the_router_refused_it() -> None:
    with pytest.raises(OpenApiMismatchError, match="GET /v1/nothing -> 200: no such operation"):
        client_for("/v1/nothing", 200, {}).simulate_get("/v1/nothing")
    not_found = {"error": {"code": "not_found", "message": "no such resource"}}
    assert client_for("/v1/nothing", 404, not_found).simulate_get("/v1/nothing").status_code == 404


def test_an_undocumented_content_type_fails() -> None:
    class Text:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.content_type = "text/html"
            resp.text = "<p>ok</p>"

    app: falcon.App[falcon.Request, falcon.Response] = falcon.App()
    app.add_route("/healthz", Text())
    with pytest.raises(OpenApiMismatchError, match="Content-Type 'text/html' not documented"):
        CheckedClient(app).simulate_get("/healthz")


def test_request_paths_map_to_the_document_templates() -> None:
    assert path_template("/v1/devices/dev-1") == "/v1/devices/{id}"
    assert path_template("/v1/devices/dev-1/enrollment-code") == "/v1/devices/{id}/enrollment-code"
    assert path_template("/v1/device/manifest") == "/v1/device/manifest"
    assert path_template("/v1/assets/") == "/v1/assets"
    assert path_template("/v1/unknown") is None


def test_a_field_the_document_does_not_name_fails() -> None:
    client = client_for("/healthz", 200, {"status": "ok", "uptime_s": 5})
    with pytest.raises(OpenApiMismatchError, match=r"fields the document does not name: .*uptime"):
        client.simulate_get("/healthz")


def test_undocumented_fields_are_found_through_refs_lists_and_all_of() -> None:
    from tests.control_api.openapi_check import undocumented_fields

    ref = {"$ref": "#/components/schemas/DeviceList"}
    device = {"id": "d", "name": "n", "secret": 1, "status": {"anything": True}}
    assert undocumented_fields(ref, {"items": [device], "next": None}) == ["/items/0/secret"]
    created = {"$ref": "#/components/schemas/DeviceCreated"}
    assert undocumented_fields(created, {"id": "d", "enrollment_code": "c"}) == []
    target = {"$ref": "#/components/schemas/Target"}
    assert undocumented_fields(target, {"group": "g", "all": True}) == []
    assert undocumented_fields(target, {"groups": ["g"]}) == ["/groups"]


@pytest.mark.parametrize(
    ("field", "value"), [("created_at", "yesterday"), ("created_at", "2026-13-01T00:00:00Z")]
)
def test_a_field_of_the_wrong_format_fails(api: Api, field: str, value: str) -> None:
    """Formats are checked (date-time here) by both validators the hook uses."""
    admin = api.tenant()
    device_id, _ = api.device(admin)
    body = api.call("GET", f"/v1/devices/{device_id}", admin).json
    assert body[field]  # documented and sent: the canned copy differs only there
    client = client_for("/v1/devices/{device_id}", 200, {**body, field: value})
    with pytest.raises(OpenApiMismatchError, match=rf"at {field}: .*date-time"):
        client.simulate_get(f"/v1/devices/{device_id}")
