"""Every answer the API tests see is checked against the served OpenAPI document.

``CheckedClient`` is the Falcon test client every fixture of tests/control_api
builds. For each request it checks that the operation (method + path template)
is in the document served at ``GET /v1/openapi.json``, that the status is
documented for it, that a body comes with a documented content type, and that a
JSON body validates (JSON Schema 2020-12, formats checked) against the
documented schema and names no field the schema does not (response schemas
stay open to clients, but the document must keep up with the code). A
mismatch raises ``OpenApiMismatchError`` naming the method, path, status and
schema error, which fails the test that made the request.

A method or path the API does not serve at all is not an operation: the
router's 404 / 405 for it is accepted, and so are 401 / 403 (the token check
runs before Falcon's 405 for a method a route lacks); the body must still be the
error envelope, and any other answer to it is a mismatch.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import falcon
import falcon.testing
import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]

from control_api.app import create_app
from control_api.panel.routes import is_panel_path
from control_api.settings import load_settings

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ROUTER_ANSWERS = (401, 403, 404, 405)


class OpenApiMismatchError(AssertionError):
    """An answer the served document does not describe."""


@cache
def served_document() -> dict[str, Any]:
    """The document as the app serves it (fetched once; it is the same for every app)."""
    app = create_app(
        load_settings({"LOMUZ_DATABASE_URL": "sqlite://", "LOMUZ_MEASURE_LOUDNESS": "0"})
    )
    try:
        result = falcon.testing.simulate_get(app, "/v1/openapi.json")
    finally:
        app.close()
    assert result.status_code == 200, result.text
    document: dict[str, Any] = json.loads(result.text)
    return document


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in served_document()["paths"]:
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        out.append((re.compile(f"^{pattern}$"), template))
    # Literal paths before templated ones, should two ever match the same URL.
    out.sort(key=lambda item: item[1].count("{"))
    return out


def path_template(path: str) -> str | None:
    """The document's path template for a request path, or None."""
    if len(path) > 1:
        path = path.rstrip("/")  # the app strips a trailing slash before routing
    for pattern, template in _templates():
        if pattern.match(path):
            return template
    return None


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = served_document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


# id(schema) -> (schema, fast check, the check that explains). The schemas are the
# served document's own objects (cached for the session), so their ids stay theirs.
_VALIDATORS: dict[int, tuple[dict[str, Any], Any, Draft202012Validator]] = {}


def _validators(schema: dict[str, Any]) -> tuple[Any, Draft202012Validator]:
    """jsonschema-rs says whether a body is valid (the API tests check thousands, and the
    pure-Python validator was three quarters of their time); jsonschema, the reference,
    judges every body the fast one refuses and names the error."""
    entry = _VALIDATORS.get(id(schema))
    if entry is None or entry[0] is not schema:
        root = {"allOf": [schema], "components": served_document()["components"]}
        fast = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
        entry = (schema, fast, Draft202012Validator(root, format_checker=FormatChecker()))
        _VALIDATORS[id(schema)] = entry
    return entry[1], entry[2]


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _content_for(content: dict[str, Any], media_type: str) -> dict[str, Any] | None:
    for documented, media in content.items():
        if documented == media_type or documented == "*/*":
            return dict(media)
        main, _, sub = documented.partition("/")
        if sub == "*" and media_type.startswith(f"{main}/"):
            return dict(media)
    return None


def check_answer(method: str, path: str, result: falcon.testing.Result) -> None:
    """Raise ``OpenApiMismatchError`` when the document does not describe this answer."""
    status = result.status_code
    if is_panel_path(path):  # HTML pages of the panel, not operations of the API
        return
    where = f"{method.upper()} {path} -> {status}"
    document = served_document()
    template = path_template(path)
    operation = None
    if template is not None:
        operation = document["paths"][template].get(method.lower())
    if operation is None:
        if status not in ROUTER_ANSWERS:
            raise OpenApiMismatchError(f"{where}: no such operation in the document")
        error = document["components"]["schemas"]["Error"]
        _check_json(where, {"application/json": {"schema": error}}, result)
        return
    where = f"{method.upper()} {path} ({template}) -> {status}"
    responses = operation["responses"]
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    response = response or responses.get("default")
    if response is None:
        raise OpenApiMismatchError(
            f"{where}: status not documented (documented: {sorted(responses)})"
        )
    response = _resolve(response)
    if not result.content:
        return
    content = response.get("content")
    if not content:
        raise OpenApiMismatchError(f"{where}: a body where the document says none")
    _check_json(where, content, result)


def _check_json(where: str, content: dict[str, Any], result: falcon.testing.Result) -> None:
    if not result.content:
        return
    media_type = _media_type(result.headers.get("Content-Type"))
    media = _content_for(content, media_type)
    if media is None:
        raise OpenApiMismatchError(
            f"{where}: Content-Type {media_type!r} not documented (documented: {sorted(content)})"
        )
    if media_type != "application/json" or "schema" not in media:
        return
    try:
        body = json.loads(result.content)
    except ValueError as ex:
        raise OpenApiMismatchError(f"{where}: the body is not JSON: {ex}") from None
    fast, reference = _validators(media["schema"])
    errors = [] if fast.is_valid(body) else sorted(reference.iter_errors(body), key=_error_path)
    if errors:
        first = errors[0]
        at = "/".join(str(p) for p in first.absolute_path) or "(the body)"
        raise OpenApiMismatchError(
            f"{where}: the body does not match the documented schema at {at}: "
            f"{first.message} ({len(errors)} error(s))"
        )
    extra = undocumented_fields(media["schema"], body)
    if extra:
        raise OpenApiMismatchError(f"{where}: fields the document does not name: {extra}")


def _error_path(error: Any) -> list[Any]:
    return list(error.path)


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema and, through allOf/oneOf/anyOf, every schema it combines (resolved)."""
    schema = _resolve(schema)
    out = [schema]
    for key in ("allOf", "oneOf", "anyOf"):
        for branch in schema.get(key, []):
            out.extend(_branches(branch))
    return out


def undocumented_fields(schema: dict[str, Any], body: Any, at: str = "") -> list[str]:
    """Paths of object fields the server sent that no schema of theirs names.

    Response schemas stay open (clients must ignore new fields), so the schema
    check alone would let the document fall behind the code; this names them.
    A free-form object (no ``properties``, or ``additionalProperties`` a schema) is
    not walked.
    """
    branches = _branches(schema)
    found: list[str] = []
    if isinstance(body, dict):
        properties: dict[str, Any] = {}
        for branch in branches:
            for name, sub in branch.get("properties", {}).items():
                properties.setdefault(name, sub)
        free = any(isinstance(b.get("additionalProperties"), dict) for b in branches)
        if properties and not free:
            found.extend(f"{at}/{name}" for name in body if name not in properties)
        for name, value in body.items():
            if name in properties:
                found.extend(undocumented_fields(properties[name], value, f"{at}/{name}"))
    elif isinstance(body, list):
        items = next((b["items"] for b in branches if isinstance(b.get("items"), dict)), None)
        if items is not None:
            for index, value in enumerate(body):
                found.extend(undocumented_fields(items, value, f"{at}/{index}"))
    return found


class CheckedClient(falcon.testing.TestClient):
    """A Falcon test client that checks every answer against the served document."""

    def simulate_request(self, *args: Any, **kwargs: Any) -> falcon.testing.Result:
        result = super().simulate_request(*args, **kwargs)
        method = kwargs.get("method", args[0] if args else "GET")
        path = kwargs.get("path", args[1] if len(args) > 1 else "/")
        check_answer(str(method), str(path).split("?", 1)[0], result)
        return result
