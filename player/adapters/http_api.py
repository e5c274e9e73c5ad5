"""Client for the control API's device endpoints (PROTOCOL.md), over httpx.

Error mapping (every httpx exception is translated, ``raise ... from exc``):

    network error, timeout, 408, 429, 5xx  -> ApiUnavailable (retryable, retry_after_s)
    401, 403                               -> AuthError (EnrollmentError on /v1/enroll)
    other status or unusable body          -> ApiProtocolError

Replies come out as ``player.wire.replies`` values (``ManifestFetch``,
``PlaysAck``); the retry policy around any call is ``player.adapters.retry``.
``probe_manifest`` (``lomuz-player doctor``) answers a ``ManifestProbe``: any
status, the ``Date`` reading, no body.

Threading: one client may be shared by threads (httpx.Client is thread-safe);
``set_token`` is a plain attribute swap.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from player.core.clock import ServerTime
from player.core.downloads import (
    Origin,
    insecure_http_problem,
    media_url_problem,
    url_origin,
)
from player.errors import (
    ApiError,
    ApiProtocolError,
    ApiUnavailable,
    AuthError,
    ConfigError,
    EnrollmentError,
)
from player.wire.replies import ManifestFetch, PlaysAck

log = logging.getLogger(__name__)

MAX_PLAYS_PER_BATCH = 1000
DEFAULT_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_MAX_SMALL_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ApiTimeouts:
    """httpx timeouts, in seconds. ``read_s`` is per socket read, not per response."""

    connect_s: float = 10.0
    read_s: float = 30.0
    write_s: float = 30.0
    pool_s: float = 10.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_s, read=self.read_s, write=self.write_s, pool=self.pool_s
        )


@dataclass(frozen=True)
class Enrollment:
    device_id: str
    device_token: str


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    None when absent or unparsable; never negative. ``now`` (tz-aware) defaults
    to the wall clock and only matters for the HTTP-date form.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" zone: RFC 5322 says UTC
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as a tz-aware instant (a "-0000" zone is UTC); None if unusable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _unquote_etag(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value or None


@dataclass(frozen=True)
class Reply:
    """A fully read (size-bounded) response."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    request: str = ""  # "METHOD URL" as sent, for error messages


@dataclass(frozen=True)
class ManifestProbe:
    """What ``probe_manifest`` saw: the status, "GET URL", and the API's clock reading.

    ``server_time`` is None without a usable ``Date`` header; its ``offset_s``
    at ``received_at`` (the wall clock at receipt) is the one offset rule
    (``player.core.clock.offset_from_date``).
    """

    status_code: int
    request: str
    server_time: ServerTime | None
    received_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _error_detail(status: int, content: bytes | None) -> str:
    """``code: message`` from a PROTOCOL error body, else the reason phrase."""
    try:
        err = json.loads(content or b"")["error"]
        return f"{err['code']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        return httpx.codes.get_reason_phrase(status) or "no detail"


def raise_for_status(status: int, headers: httpx.Headers, content: bytes | None, what: str) -> None:
    """Translate a non-2xx/304 status into the player's ApiError tree."""
    if 200 <= status < 300 or status == 304:
        return
    detail = f"{what}: HTTP {status} {_error_detail(status, content)}"
    if status in (408, 429) or status >= 500:
        raise ApiUnavailable(
            detail, status=status, retry_after_s=parse_retry_after(headers.get("retry-after"))
        )
    if status in (401, 403):
        raise AuthError(detail, status=status)
    raise ApiProtocolError(detail, status=status)


class ControlApiClient:
    """The device's view of the control API. Close it (or use ``with``).

    Plain http:// to a host that is not loopback is refused unless
    ``allow_insecure_http``: the client is built (a box enrolled with such a URL
    before the rule keeps playing its cache) but every request raises
    ConfigError saying how to fix it, so sync, telemetry and downloads show it
    in their status instead of sending the token in clear. Media URLs are
    allowed on the API's origin and on ``media_origins`` only
    (``media_url_problem``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: ApiTimeouts | None = None,
        user_agent: str = "lomuz-player",
        max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
        allow_insecure_http: bool = False,
        media_origins: Collection[str] = (),
    ) -> None:
        parts = urlsplit(base_url)
        api_origin = url_origin(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or api_origin is None:
            raise ValueError(f"api url must be an absolute http(s) URL, got {base_url!r}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._origin = (parts.scheme, parts.netloc.lower())
        self.api_origin: Origin = api_origin
        self.media_origins: frozenset[Origin] = frozenset(
            origin for origin in map(url_origin, media_origins) if origin is not None
        )
        problem = None if allow_insecure_http else insecure_http_problem(base_url)
        # Why nothing may be sent (None: fine); raised by every request.
        self.insecure_problem: str | None = (
            f"{problem}: enroll again with an https:// --api URL (or set [api] url), "
            "or set [api] allow_insecure_http = true"
            if problem
            else None
        )
        self._token = token
        self.max_manifest_bytes = max_manifest_bytes
        timeouts = timeout_s or ApiTimeouts()
        self.http = httpx.Client(
            transport=transport,
            timeout=timeouts.to_httpx(),
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ControlApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_token(self, token: str | None) -> None:
        self._token = token

    # -- URLs and auth -------------------------------------------------------

    def media_url(self, url_or_path: str) -> str:
        """An absolute URL for a manifest ``url`` (absolute, or a path on the base URL)."""
        if not url_or_path:
            raise ValueError("empty media url")
        absolute = urljoin(self.base_url, url_or_path)
        if urlsplit(absolute).scheme not in ("http", "https"):
            raise ValueError(f"media url must be http(s): {url_or_path!r:.200}")
        return absolute

    def media_url_problem(self, absolute_url: str) -> str | None:
        """Why this media URL must not be fetched (its origin, or plain http); None if fine."""
        if self.insecure_problem is not None and url_origin(absolute_url) == self.api_origin:
            return f"the API URL {self.base_url.rstrip('/')} {self.insecure_problem}"
        return media_url_problem(
            absolute_url, api_origin=self.api_origin, media_origins=self.media_origins
        )

    def check_secure(self) -> None:
        """ConfigError when the API URL is plain http to a host that is not loopback."""
        if self.insecure_problem is not None:
            raise ConfigError(f"api url {self.base_url.rstrip('/')}", self.insecure_problem)

    def auth_headers_for(self, url: str) -> dict[str, str]:
        """The bearer token, but only for URLs on the API's own origin (never leak it)."""
        parts = urlsplit(url)
        if self._token is None or (parts.scheme, parts.netloc.lower()) != self._origin:
            return {}
        return {"Authorization": f"Bearer {self._token}"}

    # -- endpoints -----------------------------------------------------------

    def enroll(self, code: str, hardware: Mapping[str, Any] | None = None) -> Enrollment:
        """Trade a one-time enrollment code for a device id and token."""
        if not code or not code.strip():
            raise EnrollmentError("enrollment code is empty")
        payload = {"enrollment_code": code.strip(), "hardware": dict(hardware or {})}
        reply = self._send("POST", "v1/enroll", json_body=payload, auth=False, what="enroll")
        if reply.status_code in (404, 405):
            # Nothing routes /v1/enroll there: the URL is wrong, not the code.
            raise ApiProtocolError(
                f"no Lomuz API at {self.base_url.rstrip('/')}: {reply.request} answered "
                f"{reply.status_code} — check --api",
                status=reply.status_code,
            )
        if reply.status_code in (400, 401, 403, 409, 422):
            raise EnrollmentError(
                "enrollment code refused: HTTP "
                f"{reply.status_code} {_error_detail(reply.status_code, reply.content)}",
                status=reply.status_code,
            )
        self._check(reply, "enroll", (200, 201))
        body = _json_object(reply, "enroll")
        device_id = body.get("device_id")
        device_token = body.get("device_token")
        if not isinstance(device_id, str) or not device_id:
            raise ApiProtocolError("enroll: response has no device_id string")
        if not isinstance(device_token, str) or not device_token:
            raise ApiProtocolError("enroll: response has no device_token string")
        return Enrollment(device_id, device_token)

    def fetch_manifest(self, since: str | None, *, fresh: bool = False) -> ManifestFetch:
        """GET the manifest (a delta since ``since``); the body is not decoded here.

        ``fresh``: ``Cache-Control: no-cache``, so the API reads its database, not
        its per-process revision cache (a sync on a push nudge).
        """
        params = {"since": since} if since else None
        sent_mono = time.monotonic()
        reply = self._send(
            "GET",
            "v1/device/manifest",
            params=params,
            what="manifest",
            max_body_bytes=self.max_manifest_bytes,
            headers={"Cache-Control": "no-cache"} if fresh else None,
        )
        received_mono = time.monotonic()
        received_at = datetime.now(UTC)
        self._check(reply, "manifest", (200, 304))
        server_date = parse_http_date(reply.headers.get("date"))
        if reply.status_code == 304:
            cursor = _unquote_etag(reply.headers.get("etag")) or since
            return ManifestFetch(
                True, None, cursor, server_date, sent_mono, received_mono, received_at
            )
        if not reply.content:
            raise ApiProtocolError("manifest: empty body")
        content_type = reply.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise ApiProtocolError(f"manifest: unexpected content type {content_type!r}")
        return ManifestFetch(
            False,
            reply.content,
            _unquote_etag(reply.headers.get("etag")),
            server_date,
            sent_mono,
            received_mono,
            received_at,
        )

    def probe_manifest(
        self, since: str | None, *, wall_now: Callable[[], datetime] = _utc_now
    ) -> ManifestProbe:
        """GET the manifest for its status and ``Date`` only (``lomuz-player doctor``).

        The body is never read (a full manifest can be megabytes) and no status
        is an error here: the caller judges it. A network error raises
        ApiUnavailable whose text is "GET URL: the whole reason"; a URL httpx
        refuses raises ApiProtocolError ("GET URL: bad URL: ...").
        """
        self.check_secure()
        url = urljoin(self.base_url, "v1/device/manifest")
        request = f"GET {url}"
        params = {"since": since} if since else None
        try:
            sent_mono = time.monotonic()
            with self.http.stream(
                "GET", url, params=params, headers=self.auth_headers_for(url)
            ) as response:
                received_mono = time.monotonic()
                received_at = wall_now()
                status = response.status_code
                date = response.headers.get("date")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiUnavailable(f"{request}: {transport_error_text(exc)}") from exc
        except ValueError as exc:  # a URL that passed the settings' check but not httpx's
            raise ApiProtocolError(f"{request}: bad URL: {exc}") from exc
        server_at = parse_http_date(date)
        server_time = None if server_at is None else ServerTime(server_at, sent_mono, received_mono)
        return ManifestProbe(status, request, server_time, received_at)

    def post_telemetry(self, status: Mapping[str, Any]) -> None:
        """Send one status report (204 expected)."""
        reply = self._send("POST", "v1/device/telemetry", json_body=dict(status), what="telemetry")
        self._check(reply, "telemetry", (200, 202, 204))

    def post_plays(self, plays_json: list[dict[str, Any]]) -> PlaysAck:
        """Upload a batch of plays (at most 1000); idempotent by play id."""
        if len(plays_json) > MAX_PLAYS_PER_BATCH:
            raise ValueError(
                f"at most {MAX_PLAYS_PER_BATCH} plays per batch, got {len(plays_json)}"
            )
        reply = self._send("POST", "v1/device/plays", json_body={"plays": plays_json}, what="plays")
        self._check(reply, "plays", (200,))
        body = _json_object(reply, "plays")
        counts: list[int] = []
        for name in ("accepted", "duplicates"):
            value = body.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ApiProtocolError(f"plays: {name} must be a non-negative integer")
            counts.append(value)
        accepted, duplicates = counts
        raw_rejected = body.get("rejected", [])
        if not isinstance(raw_rejected, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("code"), str) for entry in raw_rejected
        ):
            raise ApiProtocolError("plays: rejected must be a list of {id, code} objects")
        rejected = tuple(
            (entry["id"] if isinstance(entry.get("id"), str) else None, str(entry["code"]))
            for entry in raw_rejected
        )
        answered = accepted + duplicates + len(rejected)
        if answered != len(plays_json):
            raise ApiProtocolError(
                f"plays: the API answered for {answered} of {len(plays_json)} plays"
            )
        return PlaysAck(accepted, duplicates, rejected)

    def call_json(
        self, method: str, path: str, *, what: str, json_body: Any = None
    ) -> dict[str, Any]:
        """A small JSON exchange (remote commands: pick-up, acknowledgements); 200 expected."""
        reply = self._send(method, path, json_body=json_body, what=what)
        self._check(reply, what, (200,))
        return _json_object(reply, what)

    # -- plumbing ------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
        max_body_bytes: int = _MAX_SMALL_BODY_BYTES,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.check_secure()
        url = urljoin(self.base_url, path)
        headers = {**(self.auth_headers_for(url) if auth else {}), **(headers or {})}
        try:
            with self.http.stream(
                method, url, json=json_body, params=params, headers=headers
            ) as response:
                content = _read_bounded(response, max_body_bytes, what)
                return Reply(response.status_code, response.headers, content, f"{method} {url}")
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{what}: {method} {url}: {transport_error_text(exc)}") from exc

    @staticmethod
    def _check(reply: Reply, what: str, expected: tuple[int, ...]) -> None:
        where = f"{what}: {reply.request}" if reply.request else what
        raise_for_status(reply.status_code, reply.headers, reply.content, where)
        if reply.status_code not in expected:
            raise ApiProtocolError(
                f"{where}: unexpected HTTP {reply.status_code}", reply.status_code
            )


def transport_error_text(exc: BaseException) -> str:
    """A network error's whole reason (TLS verification included), never cut.

    ``ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:
    self-signed certificate (_ssl.c:1006)``; an exception with an empty text
    (some timeouts) shows its cause instead.
    """
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    if not text and cause is not None:
        text = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_bounded(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    """The whole body, refusing more than ``max_bytes`` (a hostile or broken server)."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiProtocolError(f"{what}: body of {declared} bytes exceeds {max_bytes}")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise ApiProtocolError(f"{what}: body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(reply: Reply, what: str) -> dict[str, Any]:
    try:
        body = json.loads(reply.content)
    except ValueError as exc:
        raise ApiProtocolError(f"{what}: response is not JSON") from exc
    if not isinstance(body, dict):
        raise ApiProtocolError(f"{what}: response is not a JSON object")
    return body


__all__ = ["ApiError", "ApiTimeouts", "ControlApiClient", "Enrollment", "ManifestProbe"]
__all__ += ["Reply", "parse_retry_after", "raise_for_status", "transport_error_text"]
