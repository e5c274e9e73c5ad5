"""The webhooks' HTTP client (httpx): one POST, its status or why it failed.

Connect and read timeouts of 5 s each, no redirects followed (a 3xx is an
answer that is not 2xx: retried), no cookies kept, the response body never
read. Used by the sender thread only, never on a request's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from control_api import __version__

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no answer (refused, timed out, TLS failure...)
    error: str | None  # why not 2xx, for the delivery log


class HttpPoster:
    """Posts webhook bodies; thread-confined to the sender."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            headers={"User-Agent": f"lomuz-control/{__version__} webhooks"},
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        try:
            with self._client.stream("POST", url, content=body, headers=dict(headers)) as answer:
                status = answer.status_code
        except httpx.TimeoutException as exc:
            return PostResult(None, f"timed out: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return PostResult(None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # an URL httpx refuses, idna's errors: a failed attempt
            return PostResult(None, f"cannot send: {type(exc).__name__}: {exc}")
        self._client.cookies.clear()
        return PostResult(status, None if 200 <= status < 300 else f"HTTP {status}")

    def close(self) -> None:
        self._client.close()
