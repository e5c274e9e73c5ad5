"""Request helpers shared by the resources: JSON bodies, query parameters, response headers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, BinaryIO, cast

import falcon
import msgspec

from control_api.core.validation import DEFAULT_LIMIT, MAX_LIMIT, json_problem, parse_instant
from control_api.errors import InvalidField
from control_api.http_errors import (
    BadRequest,
    LengthRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
)


def body_stream(req: falcon.Request) -> tuple[BinaryIO, int | None]:
    """The request body and its announced length.

    Without Content-Length the body is readable only when the server says where it
    ends (``wsgi.input_terminated``: chunked under gunicorn/granian); else 411,
    never a silently empty body.
    """
    if req.content_length is not None:
        return cast(BinaryIO, req.bounded_stream), req.content_length
    if req.env.get("wsgi.input_terminated"):
        return cast(BinaryIO, req.stream), None
    raise LengthRequired("send a Content-Length (or a chunked body)")


_ENCODER = msgspec.json.Encoder()


def encode_json(body: msgspec.Struct) -> bytes:
    """An answer's JSON bytes (a struct of ``control_api.models``)."""
    return _ENCODER.encode(body)


def send(resp: falcon.Response, body: msgspec.Struct) -> None:
    """Answer with ``body`` as JSON (msgspec, not Falcon's stdlib handler)."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = encode_json(body)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, parameters (charset) allowed."""
    if not content_type:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def read_json(req: falcon.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past ``max_bytes`` (announced or counted), 415 for
    a body not sent as ``application/json``, 400 malformed.

    The one place JSON bodies are parsed. Malformed includes what Python's ``json``
    accepts but JSON or the database does not: NaN/Infinity (and ``1e400``, which
    parses to infinity), lone surrogates, nesting past ``MAX_JSON_DEPTH``.
    """
    if req.content_length is not None and req.content_length > max_bytes:
        raise PayloadTooLarge(f"JSON bodies are limited to {max_bytes} bytes")
    has_body = bool(req.content_length) or (
        req.content_length is None and req.get_header("Transfer-Encoding") is not None
    )
    if has_body and not is_json_media_type(req.content_type):
        given = (req.content_type or "none")[:100]
        raise UnsupportedMediaType(f"send JSON with Content-Type: application/json, not {given}")
    if req.content_length is None and not req.env.get("wsgi.input_terminated"):
        raw = b""
    else:
        stream, _ = body_stream(req)
        raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"JSON bodies are limited to {max_bytes} bytes")
    if not raw.strip():
        raise BadRequest("a JSON body is required", "malformed_json")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply", "malformed_json") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", "malformed_json") from None
    problem = json_problem(body)
    if problem is not None:
        raise BadRequest(f"malformed JSON: {problem}", "malformed_json")
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    return body


def check_params(req: falcon.Request, allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    for name in req.params:
        if name not in allowed_set:
            raise InvalidField(name, "unknown query parameter", "unknown_parameter")


def str_param(req: falcon.Request, name: str, max_chars: int = 255) -> str | None:
    value = req.params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(name, "given more than once")
    if len(value) > max_chars:
        raise InvalidField(name, f"must be at most {max_chars} characters")
    if "\x00" in value:
        raise InvalidField(name, "must not contain NUL characters")
    return value


def bool_param(req: falcon.Request, name: str) -> bool | None:
    value = str_param(req, name)
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidField(name, "must be true or false")


def instant_param(req: falcon.Request, name: str) -> datetime | None:
    value = str_param(req, name)
    return None if value is None else parse_instant(value, name)


def page_params(req: falcon.Request) -> tuple[int, str | None]:
    raw = str_param(req, "limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise InvalidField("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw)
    after = str_param(req, "after", 500)
    return limit, after or None


def list_params(req: falcon.Request) -> tuple[int, str | None]:
    """``?limit=&after=`` of a list endpoint, which takes no other parameter."""
    check_params(req, ("limit", "after"))
    return page_params(req)


def created(resp: falcon.Response, collection: str, object_id: str) -> None:
    """201, with ``Location`` naming the new object (RFC 9110 §15.3.2)."""
    resp.status = falcon.HTTP_201
    resp.set_header("Location", f"/v1/{collection}/{object_id}")


def set_etag(resp: falcon.Response, version: int) -> None:
    resp.set_header("ETag", f'"{version}"')
