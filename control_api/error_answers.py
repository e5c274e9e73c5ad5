"""The one mapping of the API's exceptions to HTTP answers: (status, code, message, headers).

Domain errors (``control_api.errors``) say what went wrong; :data:`DOMAIN_STATUS`
says which status each kind is answered with. The error handler of
``control_api.app`` calls :func:`error_answer` for every exception.
"""

from __future__ import annotations

import logging

import falcon

from control_api.errors import (
    AccountDisabled,
    BadCredentials,
    BadEnrollmentCode,
    Conflict,
    ContentTypeNotAllowed,
    DomainError,
    EmptyUpload,
    InvalidField,
    InvalidMediaName,
    MediaCheckBusy,
    MediaNotFound,
    MediaRefused,
    MediaTooLarge,
    MediaTruncated,
    NotFound,
    PermissionDenied,
    PushUnavailable,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
    VersionMismatch,
)
from control_api.http_errors import HttpError

log = logging.getLogger(__name__)

Answer = tuple[int, str, str, dict[str, str]]

# Every DomainError a client may be answered with. A kind not listed here (a
# MediaStorageError: the disk failed) is an outage: 500, logged, nothing said.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    EmptyUpload: 400,
    MediaTruncated: 400,
    Unauthenticated: 401,
    BadCredentials: 401,
    BadEnrollmentCode: 401,
    PermissionDenied: 403,
    AccountDisabled: 403,
    NotFound: 404,
    InvalidMediaName: 404,
    MediaNotFound: 404,
    Conflict: 409,
    VersionMismatch: 412,
    QuotaExceeded: 413,
    MediaTooLarge: 413,
    ContentTypeNotAllowed: 415,
    MediaRefused: 415,
    InvalidField: 422,
    RateLimited: 429,
    MediaCheckBusy: 503,
    PushUnavailable: 503,
}

# What falcon's own errors (unknown route, 405, 406, 414, 431, ...) are called.
_FALCON_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid",
    429: "too_many_requests",
    431: "headers_too_large",
}


def _domain_status(ex: DomainError) -> int | None:
    for kind in type(ex).__mro__:
        status = DOMAIN_STATUS.get(kind)
        if status is not None:
            return status
    return None


def _domain_headers(ex: DomainError) -> dict[str, str]:
    if isinstance(ex, Unauthenticated | BadEnrollmentCode):
        # RFC 9110 §15.5.2: every 401 names a scheme.
        realm = ex.realm if isinstance(ex, Unauthenticated) else "lomuz"
        challenge = f'Bearer realm="{realm}"'
        if ex.code == "invalid_token":
            challenge += ', error="invalid_token"'  # RFC 6750 §3.1
        return {"WWW-Authenticate": challenge}
    if isinstance(ex, RateLimited | MediaCheckBusy | PushUnavailable):
        return {"Retry-After": str(ex.retry_after_s)}
    return {}


def _domain_message(ex: DomainError) -> str:
    if isinstance(ex, InvalidMediaName | MediaNotFound):
        return "no such media"  # a client learns nothing of which files exist
    return ex.message


def error_answer(ex: BaseException) -> Answer:
    """The one exception → (status, code, message, headers) mapping."""
    if isinstance(ex, DomainError):
        status = _domain_status(ex)
        if status is not None:
            return status, ex.code, _domain_message(ex), _domain_headers(ex)
    elif isinstance(ex, HttpError):
        return ex.status, ex.code, ex.message, ex.headers
    elif isinstance(ex, falcon.HTTPError):
        status = ex.status_code
        code = _FALCON_CODES.get(status, "internal_error" if status >= 500 else "error")
        message = ex.title or code
        if ex.description:
            message = f"{message}: {ex.description}"
        if status == 404:
            message = "no such resource"
        return status, code, message, dict(ex.headers or {})
    # Anything else is a bug or an outage: log it whole, tell the client nothing of it.
    log.error("unhandled error", exc_info=ex)
    return 500, "internal_error", "internal server error", {}
