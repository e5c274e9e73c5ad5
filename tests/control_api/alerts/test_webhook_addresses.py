"""Webhooks never reach into the API's own network unless the operator allows it.

A tenant's admin picks the URL: by default every address its host resolves to must
be public, checked before any connection, and the POST goes to the checked address.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trustme

from control_api.webhook_http import HttpPoster
from tests.control_api.alerts.receiver import Receiver

HEADERS = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://10.1.2.3:{port}/hook",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_a_non_public_address_is_refused_before_any_connection(url: str) -> None:
    with Receiver().running() as receiver:
        poster = HttpPoster(timeout_s=1)
        try:
            result = poster.post(url.format(port=receiver.port), b"{}", HEADERS)
        finally:
            poster.close()
        assert result.status is None
        assert result.error is not None and "non-public address" in result.error
        assert "LOMUZ_WEBHOOKS_ALLOW_PRIVATE" in result.error
        assert receiver.received == []


def test_allowed_private_receivers_get_the_post_with_their_own_host_name() -> None:
    with Receiver().running() as receiver:
        poster = HttpPoster(timeout_s=5, allow_private=True)
        try:
            result = poster.post(f"http://localhost:{receiver.port}/hook", b"{}", HEADERS)
        finally:
            poster.close()
        [got] = receiver.wait_for(1)
    assert (result.status, result.error) == (200, None)
    assert got.headers["Host"] == f"localhost:{receiver.port}"


def test_a_name_that_does_not_resolve_is_a_clear_failed_attempt() -> None:
    poster = HttpPoster(timeout_s=1)
    try:
        result = poster.post("https://no-such-host.invalid/hook", b"{}", HEADERS)
    finally:
        poster.close()
    assert result.status is None
    assert result.error is not None and "cannot resolve no-such-host.invalid" in result.error


def test_https_goes_to_the_checked_address_and_verifies_the_certificate_by_name() -> None:
    """The POST is pinned to the resolved IP, yet TLS still sends the name (SNI) and
    checks the certificate against it: a certificate for another name is refused."""
    ca = trustme.CA()
    with _https_receiver(ca.issue_cert("localhost")) as port:
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        poster = HttpPoster(timeout_s=5, allow_private=True, verify=trusting)
        try:
            good = poster.post(f"https://localhost:{port}/hook", b"{}", HEADERS)
        finally:
            poster.close()
    assert (good.status, good.error) == (200, None)
    with _https_receiver(ca.issue_cert("other.example")) as port:
        poster = HttpPoster(timeout_s=5, allow_private=True, verify=trusting)
        try:
            bad = poster.post(f"https://localhost:{port}/hook", b"{}", HEADERS)
        finally:
            poster.close()
    assert bad.status is None and bad.error is not None and "ConnectError" in bad.error


@contextmanager
def _https_receiver(cert: trustme.LeafCert) -> Iterator[int]:
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    server = receiver._server  # the test's own receiver, wrapped in TLS
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with receiver.running():
        yield receiver.port


class Trickler:
    """A receiver that reads the request, then sends its status line a byte every
    0.2 s: each byte resets a read timeout, so only a wall-clock deadline ends it."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: "):
                    if self._stop.wait(0.2):
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    @contextmanager
    def running(self) -> Iterator[Trickler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)
            self._server.close()


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_wall_clock_deadline() -> None:
    with Trickler().running() as trickler:
        poster = HttpPoster(timeout_s=1, total_timeout_s=2, allow_private=True)
        started = time.monotonic()
        try:
            result = poster.post(f"http://127.0.0.1:{trickler.port}/hook", b"{}", HEADERS)
        finally:
            poster.close()
        took_s = time.monotonic() - started
    assert result.status is None
    assert result.error == "timed out: no answer within 2 s"
    assert 1.9 <= took_s < 4, took_s  # the deadline, not the 1 s read timeout, ended it
