"""The one error mapping: every domain error kind → the status and code the OpenAPI
document lists for it, with the headers the protocol promises."""

from __future__ import annotations

import logging
from typing import Any

import falcon
import pytest

from control_api import errors as e
from control_api.error_answers import DOMAIN_STATUS, error_answer
from control_api.http_errors import (
    BadRequest,
    HttpError,
    LengthRequired,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from control_api.openapi import build_openapi

# One instance of every DomainError kind, and what a client is answered.
EXPECTED: list[tuple[e.DomainError, int, str]] = [
    (e.NotFound("no asset 'x'"), 404, "not_found"),
    (e.Conflict("a playlist uses this asset", "asset_in_use"), 409, "asset_in_use"),
    (e.InvalidField("items[0].asset_id", "no asset 'x'", "unknown_asset"), 422, "unknown_asset"),
    (e.InvalidField("name", "must be a string"), 422, "invalid"),
    (e.VersionMismatch(3, '"2"'), 412, "version_mismatch"),
    (e.QuotaExceeded("the tenant stores 10 of 10 bytes"), 413, "quota_exceeded"),
    (e.EmptyUpload(), 400, "empty_body"),
    (e.ContentTypeNotAllowed("Content-Type must be one of ..."), 415, "unsupported_media_type"),
    (e.Unauthenticated("invalid or revoked token", "invalid_token"), 401, "invalid_token"),
    (e.BadEnrollmentCode(), 401, "invalid_enrollment_code"),
    (e.BadCredentials(), 401, "invalid_credentials"),
    (e.PermissionDenied("needs an admin token", "wrong_token_kind"), 403, "wrong_token_kind"),
    (e.AccountDisabled(), 403, "account_disabled"),
    (e.RateLimited("too many failed enrollment attempts", 60), 429, "too_many_requests"),
    (e.PushUnavailable("the broker did not answer"), 503, "push_unavailable"),
    (e.MediaTooLarge(100, 101), 413, "payload_too_large"),
    (e.MediaTruncated(100, 50), 400, "truncated_body"),
    (e.MediaRefused("the upload is text, not audio"), 415, "unsupported_media_content"),
    (e.MediaCheckBusy("the media check did not finish"), 503, "media_check_busy"),
    (e.InvalidMediaName("nope"), 404, "not_found"),
    (e.MediaNotFound("a" * 64), 404, "not_found"),
]
# The document names these codes in the descriptions of their responses.
CODES_THE_DOCUMENT_NAMES = {
    "quota_exceeded",
    "payload_too_large",
    "unsupported_media_type",
    "unsupported_media_content",
    "media_check_busy",
    "push_unavailable",
    "body_timeout",
}


def _kinds(base: type[Exception]) -> set[type[Exception]]:
    out: set[type[Exception]] = set()
    for sub in base.__subclasses__():
        out.add(sub)
        out |= _kinds(sub)
    return out


def _documented() -> dict[str, list[str]]:
    """status → the descriptions of every response the document's operations list."""
    document = build_openapi()
    components: dict[str, Any] = document["components"]["responses"]
    out: dict[str, list[str]] = {}
    for item in document["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for status, response in op.get("responses", {}).items():
                ref = response.get("$ref", "")
                described = components[ref.rsplit("/", 1)[-1]] if ref else response
                out.setdefault(status, []).append(described.get("description", ""))
    return out


def test_every_domain_error_kind_has_an_expected_answer() -> None:
    expected_kinds = {type(ex) for ex, _, _ in EXPECTED}
    unanswered = {e.MediaError, e.MediaStorageError}  # a base; an outage (500)
    assert _kinds(e.DomainError) - unanswered == expected_kinds
    assert set(DOMAIN_STATUS) == expected_kinds


@pytest.mark.parametrize(("ex", "status", "code"), EXPECTED, ids=lambda x: type(x).__name__)
def test_a_domain_error_maps_to_the_status_and_code_the_document_lists(
    ex: e.DomainError, status: int, code: str
) -> None:
    got_status, got_code, message, _ = error_answer(ex)
    assert (got_status, got_code) == (status, code)
    assert message
    documented = _documented()
    assert str(status) in documented, f"the OpenAPI document lists no {status} answer"
    if code in CODES_THE_DOCUMENT_NAMES:
        assert any(code in d for d in documented[str(status)]), code


def test_an_invalid_field_names_the_field_in_its_message() -> None:
    _, _, message, _ = error_answer(e.InvalidField("target.device_id", "no device 'x'"))
    assert message == "target.device_id: no device 'x'"


def test_a_401_names_the_bearer_scheme_and_an_invalid_token_says_so() -> None:
    *_, missing = error_answer(e.Unauthenticated("missing token", "missing_token"))
    *_, invalid = error_answer(e.Unauthenticated("invalid or revoked token", "invalid_token"))
    *_, metrics = error_answer(e.Unauthenticated("needs the token", realm="metrics"))
    *_, code = error_answer(e.BadEnrollmentCode())
    assert missing == {"WWW-Authenticate": 'Bearer realm="lomuz"'}
    assert invalid == {"WWW-Authenticate": 'Bearer realm="lomuz", error="invalid_token"'}
    assert metrics == {"WWW-Authenticate": 'Bearer realm="metrics"'}
    assert code == {"WWW-Authenticate": 'Bearer realm="lomuz"'}


def test_retry_after_comes_with_a_rate_limit_and_a_busy_media_check() -> None:
    *_, limited = error_answer(e.RateLimited("too many", 42))
    *_, busy = error_answer(e.MediaCheckBusy("busy"))
    assert limited == {"Retry-After": "42"}
    assert busy == {"Retry-After": str(e.MediaCheckBusy.retry_after_s)}


def test_media_errors_say_nothing_of_which_files_exist() -> None:
    assert error_answer(e.MediaNotFound("b" * 64))[2] == "no such media"
    assert error_answer(e.InvalidMediaName("../etc/passwd"))[2] == "no such media"


@pytest.mark.parametrize(
    ("ex", "status", "code"),
    [
        (BadRequest("malformed JSON", "malformed_json"), 400, "malformed_json"),
        (LengthRequired("send a Content-Length"), 411, "length_required"),
        (RequestTimeout("too slow"), 408, "body_timeout"),
        (PayloadTooLarge("JSON bodies are limited"), 413, "payload_too_large"),
        (UnsupportedMediaType("send JSON"), 415, "unsupported_media_type"),
    ],
)
def test_errors_of_the_http_layer_keep_their_status(ex: HttpError, status: int, code: str) -> None:
    got_status, got_code, _, headers = error_answer(ex)
    assert (got_status, got_code) == (status, code)
    if isinstance(ex, RequestTimeout):
        assert headers == {"Connection": "close"}


def test_an_outage_is_a_500_that_says_nothing_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="control_api.error_answers"):
        answer = error_answer(e.MediaStorageError("disk full: /srv/media"))
    assert answer == (500, "internal_error", "internal server error", {})
    assert "unhandled error" in caplog.text


def test_an_unknown_route_of_falcon_is_a_404_without_details() -> None:
    assert error_answer(falcon.HTTPNotFound()) == (404, "not_found", "no such resource", {})
