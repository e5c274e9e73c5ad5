"""The webhooks' HTTP client (httpx): one POST, its status or why it failed.

Connect and read timeouts of 5 s each, and the whole POST within
``TOTAL_TIMEOUT_S`` of wall-clock time: a receiver that trickles its answer a
byte at a time resets httpx's read timeout on every byte, so a timer shuts the
socket down at the deadline (the sender's lease on a batch counts on that
bound). No redirects followed (a 3xx is an answer that is not 2xx: retried), no
cookies and no idle connections kept, the response body never read. Used by the
sender thread only, never on a request's path.

A tenant's admin chooses the URL, so the API must not become a way into its own
network: the host is resolved here, every address it names must be public
(``ipaddress.is_global``) unless ``allow_private`` (``LOMUZ_WEBHOOKS_ALLOW_PRIVATE``,
for receivers inside the operator's network), and the POST goes to the address
that was checked (the name is kept for the Host header, SNI and the certificate
check), so a DNS answer that changes between the check and the connect cannot
point it elsewhere. A refused address is logged without a connection attempt.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from control_api import __version__

TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 10.0  # name resolution aside (the system resolver's own bounds)


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no answer (refused, timed out, TLS failure...)
    error: str | None  # why not 2xx, for the delivery log


class _RefusedAddressError(Exception):
    pass


class _Deadline:
    """Shuts the POST's socket down ``total_s`` after :meth:`start`: the blocked read
    returns at once and httpx raises, whatever the receiver trickles."""

    def __init__(self, total_s: float) -> None:
        self._total_s = total_s
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer: threading.Timer | None = None
        self.expired = False

    def trace(self, event_name: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: the connection's socket, once it is connected."""
        if event_name != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        with self._lock:
            self._socket = sock
            if self.expired:
                self._shut()

    def __enter__(self) -> _Deadline:
        self._timer = threading.Timer(self._total_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)


def _failed(exc: Exception) -> PostResult:
    if isinstance(exc, httpx.TimeoutException):
        return PostResult(None, f"timed out: {type(exc).__name__}")
    if isinstance(exc, httpx.HTTPError):
        return PostResult(None, f"{type(exc).__name__}: {exc}")
    # An URL httpx refuses, idna's errors: a failed attempt.
    return PostResult(None, f"cannot send: {type(exc).__name__}: {exc}")


class HttpPoster:
    """Posts webhook bodies; thread-confined to the sender."""

    def __init__(
        self,
        timeout_s: float = TIMEOUT_S,
        *,
        total_timeout_s: float = TOTAL_TIMEOUT_S,
        allow_private: bool = False,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._allow_private = allow_private
        self._total_timeout_s = total_timeout_s
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            # A fresh connection per POST: the deadline needs the socket it connected.
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=verify,  # tests: a private CA
            follow_redirects=False,
            headers={"User-Agent": f"lomuz-control/{__version__} webhooks"},
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        deadline = _Deadline(self._total_timeout_s)
        try:
            target, extensions = self._pinned(httpx.URL(url))
            sent = {**headers, "Host": httpx.URL(url).netloc.decode("ascii")}
            with (
                deadline,
                self._client.stream(
                    "POST",
                    target,
                    content=body,
                    headers=sent,
                    extensions={**extensions, "trace": deadline.trace},
                ) as answer,
            ):
                status = answer.status_code
        except _RefusedAddressError as exc:
            return PostResult(None, f"refused: {exc}")
        except Exception as exc:
            if deadline.expired:
                return PostResult(None, f"timed out: no answer within {self._total_timeout_s:g} s")
            return _failed(exc)
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
