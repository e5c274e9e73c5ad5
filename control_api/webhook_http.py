"""The webhooks' HTTP client (httpx): one POST, its status or why it failed.

Connect and read timeouts of 5 s each, no redirects followed (a 3xx is an
answer that is not 2xx: retried), no cookies kept, the response body never
read. Used by the sender thread only, never on a request's path.

A tenant's admin chooses the URL, so the API must not become a way into its own
network: the host is resolved here, every address it names must be public
(``ipaddress.is_global``) unless ``allow_private`` (``LOMUZ_WEBHOOKS_ALLOW_PRIVATE``,
for receivers inside the operator's network), and the POST goes to the address
that was checked (the name is kept for the Host header, SNI and the certificate
check), so a DNS answer that changes between the check and the connect cannot
point it elsewhere. A refused address is logged without a connection attempt.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from control_api import __version__

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no answer (refused, timed out, TLS failure...)
    error: str | None  # why not 2xx, for the delivery log


class _RefusedAddressError(Exception):
    pass


class HttpPoster:
    """Posts webhook bodies; thread-confined to the sender."""

    def __init__(
        self,
        timeout_s: float = TIMEOUT_S,
        *,
        allow_private: bool = False,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._allow_private = allow_private
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            verify=verify,  # tests: a private CA
            follow_redirects=False,
            headers={"User-Agent": f"lomuz-control/{__version__} webhooks"},
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        try:
            target, extensions = self._pinned(httpx.URL(url))
            sent = {**headers, "Host": httpx.URL(url).netloc.decode("ascii")}
            with self._client.stream(
                "POST", target, content=body, headers=sent, extensions=extensions
            ) as answer:
                status = answer.status_code
        except _RefusedAddressError as exc:
            return PostResult(None, f"refused: {exc}")
        except httpx.TimeoutException as exc:
            return PostResult(None, f"timed out: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return PostResult(None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # an URL httpx refuses, idna's errors: a failed attempt
            return PostResult(None, f"cannot send: {type(exc).__name__}: {exc}")
        self._client.cookies.clear()
        return PostResult(status, None if 200 <= status < 300 else f"HTTP {status}")

    def _pinned(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str]]:
        """The URL with its host replaced by a checked address, and the SNI name."""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            found = socket.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _RefusedAddressError(f"cannot resolve {url.host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        if not addresses:
            raise _RefusedAddressError(f"{url.host} has no address")
        for address in addresses:
            if not (self._allow_private or address.is_global):
                raise _RefusedAddressError(
                    f"{url.host} resolves to a non-public address "
                    "(LOMUZ_WEBHOOKS_ALLOW_PRIVATE=1 allows receivers in your network)"
                )
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        return url.copy_with(host=str(addresses[0])), extensions

    def close(self) -> None:
        self._client.close()
