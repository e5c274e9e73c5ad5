"""Webhook rules: which URLs are accepted, the signature, the retry schedule, the body.

Pure: no I/O; the time and the random jitter are passed in.

Signature (``X-Lomuz-Signature: t=<unix>,v1=<hex>``): HMAC-SHA256 keyed with the
webhook's secret (its ASCII text, as shown once at creation) over
``f"{t}.{body}"``, ``body`` the exact bytes POSTed. Receivers recompute it,
compare in constant time and refuse a ``t`` far from their clock (replays).

Retries: an attempt that gets no 2xx is tried again after 30 s, doubling up to
1 h, each pause jittered by up to ±20 %; after ``MAX_ATTEMPTS`` attempts or
``GIVE_UP_AFTER`` since the event, the delivery is ``failed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

FIRST_RETRY_S = 30.0
MAX_RETRY_S = 3600.0
JITTER = 0.2
MAX_ATTEMPTS = 15
GIVE_UP_AFTER = timedelta(hours=24)
MAX_URL_CHARS = 2000
SECRET_BYTES = 32
SIGNATURE_HEADER = "X-Lomuz-Signature"


def new_secret() -> str:
    """32 random bytes, base64url without padding (43 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def url_problem(url: str, *, allow_http: bool) -> str | None:
    """Why ``url`` cannot receive webhooks, or None."""
    if len(url) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "is not a valid URL"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        if parts.scheme == "http":
            return "must be https:// (http:// only with LOMUZ_WEBHOOKS_ALLOW_HTTP=1, for tests)"
        return "must be an https:// URL"
    if not parts.hostname:
        return "must name a host"
    if not _is_host(parts.hostname):
        return "must name its host in ASCII (punycode for an international name) or by IP"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user name or password"
    if parts.fragment:
        return "must not have a #fragment"
    return None


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _is_host(host: str) -> bool:
    """An IP literal, or ASCII letters-digits-hyphens labels (what every HTTP client
    can dial; a Unicode name the resolver cannot encode would fail at every attempt)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Lomuz-Signature`` value of ``body`` sent at ``timestamp`` (Unix seconds)."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now_unix: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (the docs show the same): the signature matches, ``t`` is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now_unix - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected, header)


def retry_pause_s(attempts: int, jitter: float) -> float:
    """The pause after the ``attempts``-th failed attempt; ``jitter`` in [-1, 1]."""
    base: float = min(MAX_RETRY_S, FIRST_RETRY_S * 2.0 ** max(0, attempts - 1))
    return base * (1 + JITTER * max(-1.0, min(1.0, jitter)))


def next_attempt_at(
    attempts: int, created_at: datetime, now: datetime, jitter: float
) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None: give up (failed)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    at = now + timedelta(seconds=retry_pause_s(attempts, jitter))
    return None if at - created_at > GIVE_UP_AFTER else at


def event_body(
    *,
    event_id: str,
    event_type: str,
    created_at: str,
    tenant_id: str,
    device: Mapping[str, str],
    data: Mapping[str, Any],
) -> str:
    """The JSON body of one event, as sent (and signed) on every attempt."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": created_at,
            "tenant_id": tenant_id,
            "device": dict(device),
            "data": dict(data),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
