"""Errors of the HTTP layer itself: the request cannot be read as one (no domain meaning).

    HttpError                  answered as {"error": {"code", "message"}} with ``status``
    ├── BadRequest             400 malformed (JSON that does not parse)
    ├── LengthRequired         411 a body without Content-Length on a server that
    │                              cannot tell where it ends
    ├── RequestTimeout         408 the body did not arrive in time (body_timeout)
    ├── PayloadTooLarge        413 a JSON body over its limit
    └── UnsupportedMediaType   415 a JSON body not sent as JSON

Domain refusals are ``control_api.errors.DomainError``; ``control_api.error_answers``
maps both. Nothing here imports a third-party package.
"""

# ruff: noqa: N818 -- HTTP error names read as their status (BadRequest, LengthRequired)
from __future__ import annotations

from control_api.errors import ControlApiError


class HttpError(ControlApiError):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = {}


class BadRequest(HttpError):
    status = 400
    code = "bad_request"


class LengthRequired(HttpError):
    status = 411
    code = "length_required"


class RequestTimeout(HttpError):
    """The client sent its body too slowly (``control_api.core.body_deadline``)."""

    status = 408
    code = "body_timeout"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        # The rest of the body is never read: the connection cannot carry another request.
        self.headers["Connection"] = "close"


class PayloadTooLarge(HttpError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HttpError):
    status = 415
    code = "unsupported_media_type"
