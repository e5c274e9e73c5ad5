"""Reading a panel form (``application/x-www-form-urlencoded``), once per request."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

import falcon

from control_api import http
from control_api.http import body_stream
from control_api.http_errors import BadRequest, PayloadTooLarge
from control_api.panel.director import Director

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 200


def is_form(req: falcon.Request) -> bool:
    return (req.content_type or "").split(";")[0].strip().lower() == FORM_TYPE


def read_form(req: falcon.Request, max_bytes: int) -> dict[str, str]:
    """The form's fields (a repeated name keeps its first value); empty when the body
    is not a form. Parsed once: the session middleware and the page share it."""
    cached: dict[str, str] | None = getattr(req.context, "form", None)
    if cached is not None:
        return cached
    form: dict[str, str] = {}
    if is_form(req) and (req.content_length or req.env.get("wsgi.input_terminated")):
        if req.content_length is not None and req.content_length > max_bytes:
            raise PayloadTooLarge(f"forms are limited to {max_bytes} bytes")
        stream, _ = body_stream(req)
        raw = stream.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"forms are limited to {max_bytes} bytes")
        try:
            pairs = parse_qsl(
                raw.decode("ascii"),
                keep_blank_values=True,
                strict_parsing=False,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_FIELDS,
            )
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the form is not URL-encoded UTF-8", "malformed_form") from None
        for name, value in pairs:
            form.setdefault(name, value)
    req.context.form = form
    return form


def form_text(form: Mapping[str, str], name: str, max_chars: int) -> str:
    """A form field as trimmed text ("" when absent), cut to one character over
    ``max_chars``: enough for the check after it to say "too long", never more."""
    return form.get(name, "")[: max_chars + 1].strip()


def query_text(req: falcon.Request, name: str, max_chars: int = 255) -> str:
    """A query parameter as trimmed text ("" when absent); given twice, too long or
    holding NUL, an ``InvalidField`` naming it."""
    return (http.str_param(req, name, max_chars) or "").strip()


def signed_in(req: falcon.Request) -> Director:
    """The director the session middleware set before any panel responder runs
    (``panel/sessions.py``); it also checked the CSRF token and the role of a change."""
    director: Director = req.context.director
    return director
