"""The control API's exception tree. One mapping turns these into HTTP answers.

    ControlApiError
    ├── ConfigError                bad setting; names the key; the CLI exits 78
    ├── StoreError                 the database cannot be reached or migrated
    └── HttpError                  answered as {"error": {"code", "message"}}
        ├── BadRequest             400 malformed (e.g. JSON that does not parse)
        ├── Unauthorized           401 token missing or invalid, bad enrollment code
        ├── Forbidden              403 token of the wrong kind
        ├── NotFound               404 unknown or another tenant's object
        ├── MethodNotAllowed       405
        ├── Conflict               409 conflict with current state (asset_in_use, ...)
        ├── LengthRequired         411 a body without Content-Length on a server that
        │                              cannot tell where it ends
        ├── RequestTimeout         408 the body did not arrive in time (body_timeout)
        ├── PreconditionFailed     412 If-Match mismatch
        ├── PayloadTooLarge        413 body over the limit
        ├── UnsupportedMediaType   415
        ├── RangeNotSatisfiable    416
        ├── Unprocessable          422 well-formed but invalid; ``field`` names it
        └── TooManyRequests        429 (``retry_after_s``)

Nothing here imports a third-party package, so ``control_api.core`` may raise these.
"""

# ruff: noqa: N818 -- HTTP error names read as their status (NotFound, Conflict)
from __future__ import annotations


class ControlApiError(Exception):
    """Base of every error the control API raises on purpose."""


class ConfigError(ControlApiError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class StoreError(ControlApiError):
    pass


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


class Unauthorized(HttpError):
    """401; says ``WWW-Authenticate: Bearer`` (RFC 9110 §15.5.2: every 401 must name a scheme)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, code: str | None = None, realm: str = "lomuz") -> None:
        super().__init__(message, code)
        challenge = f'Bearer realm="{realm}"'
        if self.code == "invalid_token":
            challenge += ', error="invalid_token"'  # RFC 6750 §3.1
        self.headers["WWW-Authenticate"] = challenge


class Forbidden(HttpError):
    status = 403
    code = "forbidden"


class NotFound(HttpError):
    status = 404
    code = "not_found"


class MethodNotAllowed(HttpError):
    status = 405
    code = "method_not_allowed"


class Conflict(HttpError):
    status = 409
    code = "conflict"


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


class PreconditionFailed(HttpError):
    status = 412
    code = "precondition_failed"


class PayloadTooLarge(HttpError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HttpError):
    status = 415
    code = "unsupported_media_type"


class RangeNotSatisfiable(HttpError):
    status = 416
    code = "range_not_satisfiable"


class Unprocessable(HttpError):
    """Well-formed but invalid input; ``field`` names the offending field or parameter."""

    status = 422
    code = "invalid"

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}", code)
        self.field = field


class TooManyRequests(HttpError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.headers["Retry-After"] = str(retry_after_s)
