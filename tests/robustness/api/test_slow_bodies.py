"""Slow bodies against the real server: granian started the way the unit starts it.

Hundreds of sockets send the headers of a large JSON body to the public
``POST /v1/enroll`` and then trickle it a byte at a time. Under granian's WSGI
interface their reads held every Python thread and ``/healthz`` went silent
(issue 10). With the unit's ASGI entry point the bodies are read on the event
loop under a deadline: every ``/healthz`` answers within 2 s while they
trickle, a body sent at once is still read, and every slow request is answered
408 ``body_timeout`` and closed once its deadline (here 5 s) has passed. The
run is bounded (about 25 s).
"""

from __future__ import annotations

import resource
import selectors
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.ops.conftest import control_unit_environ, control_unit_running

ATTACK_S = 15.0
HEALTHZ_BOUND_S = 2.0
WANTED_SOCKETS = 600  # the field finding; well under one worker's 1024 (--backpressure)
TRICKLE_EVERY_S = 0.5
ANNOUNCED_BYTES = 500_000  # under the 1 MiB JSON limit, so the app reads the body
BODY_READ_TIMEOUT_S = 5  # LOMUZ_BODY_READ_TIMEOUT_S (the unit's default is 30)


@dataclass
class Server:
    base: str
    process: subprocess.Popen[str]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    environ = control_unit_environ(
        tmp_path,
        LOMUZ_METRICS_TOKEN_FILE=str(tmp_path / "no-token"),
        LOMUZ_BODY_READ_TIMEOUT_S=str(BODY_READ_TIMEOUT_S),
    )
    base = f"http://127.0.0.1:{environ['LOMUZ_HTTP_PORT']}"
    with control_unit_running(environ) as process:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"granian did not come up: {process.poll()}")
        yield Server(base, process)


@dataclass
class Trickler:
    """Sockets that announce a large body and send it a byte at a time."""

    port: int
    count: int
    sent_at: dict[int, float] = field(default_factory=dict)
    # When the server first answered (or closed), and when it closed.
    ended_at: dict[int, float] = field(default_factory=dict)
    closed_at: dict[int, float] = field(default_factory=dict)
    answers: dict[int, bytes] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        head = (
            "POST /v1/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {ANNOUNCED_BYTES}\r\n\r\n{{"
        ).encode()
        selector = selectors.DefaultSelector()
        sockets: dict[int, socket.socket] = {}
        try:
            for i in range(self.count):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                sock.sendall(head)
                sock.setblocking(False)
                self.sent_at[i] = time.monotonic()
                sockets[i] = sock
                selector.register(sock, selectors.EVENT_READ, i)
            next_byte_at = time.monotonic()
            while not self.stop.is_set() and len(self.closed_at) < self.count:
                for key, _ in selector.select(timeout=0.05):
                    i = key.data
                    try:
                        data = sockets[i].recv(4096)
                    except OSError:
                        data = b""
                    if i not in self.ended_at:
                        self.ended_at[i] = time.monotonic()
                    self.answers[i] = self.answers.get(i, b"") + data
                    if not data:
                        self.closed_at[i] = time.monotonic()
                        selector.unregister(sockets[i])
                if time.monotonic() >= next_byte_at:
                    next_byte_at += TRICKLE_EVERY_S
                    for i, sock in sockets.items():
                        if i not in self.ended_at:
                            try:
                                sock.send(b" ")
                            except OSError:
                                self.ended_at.setdefault(i, time.monotonic())
        finally:
            selector.close()
            for sock in sockets.values():
                sock.close()


def _healthz_s(base: str) -> float:
    started = time.monotonic()
    # A new connection each time: the attack must not starve accepting either.
    answer = httpx.get(f"{base}/healthz", timeout=HEALTHZ_BOUND_S * 5)
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    return took


def test_healthz_answers_while_hundreds_of_bodies_trickle(server: Server) -> None:
    soft_fds, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(WANTED_SOCKETS, soft_fds - 200)
    assert count >= 100, f"only {soft_fds} file descriptors: raise ulimit -n"
    port = int(server.base.rsplit(":", 1)[1])
    trickler = Trickler(port, count)
    attack = threading.Thread(target=trickler.run, daemon=True)
    attack.start()
    latencies: list[float] = []
    fast_body = None
    try:
        opened_by = time.monotonic() + 30
        while len(trickler.sent_at) < count and time.monotonic() < opened_by:
            latencies.append(_healthz_s(server.base))
            time.sleep(0.1)
        assert len(trickler.sent_at) == count, "could not open the slow sockets"
        attack_ends = time.monotonic() + ATTACK_S
        while time.monotonic() < attack_ends:
            latencies.append(_healthz_s(server.base))
            if fast_body is None:
                # A body sent at once, while the slow ones hold their threads.
                fast_body = httpx.post(
                    f"{server.base}/v1/enroll",
                    json={"enrollment_code": "x" * 12},
                    timeout=HEALTHZ_BOUND_S * 5,
                )
            time.sleep(0.1)
        # Every deadline has passed by now: all were cut, none is left open.
        closed_by = time.monotonic() + 10
        while len(trickler.closed_at) < count and time.monotonic() < closed_by:
            time.sleep(0.1)
    finally:
        trickler.stop.set()
        attack.join(timeout=10)

    ordered = sorted(latencies)
    ended = len(trickler.ended_at)
    cut_after_s = sorted(trickler.ended_at[i] - trickler.sent_at[i] for i in trickler.ended_at)
    print(
        f"\nslow bodies: N={count} sockets trickling 1 byte / {TRICKLE_EVERY_S:g} s for "
        f"{ATTACK_S:g} s; /healthz during the attack: {len(ordered)} requests, "
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, "
        f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms; slow requests ended by the server: {ended} of {count}"
        + (f", {cut_after_s[0]:.1f}-{cut_after_s[-1]:.1f} s after their headers" if ended else "")
        + f"; left open by the server: {count - len(trickler.closed_at)}"
    )
    assert ordered[-1] < HEALTHZ_BOUND_S, ordered[-5:]
    assert ended == count, f"{count - ended} slow requests never answered"
    # Closing is granian's part once the 408 is out; in one full-suite run on
    # 2 loaded cores it left 1 of 600 open (docs/BENCHMARKS.md): bounded, not zero.
    left_open = count - len(trickler.closed_at)
    assert left_open <= count // 100, f"{left_open} cut connections were left open"
    assert cut_after_s[0] >= BODY_READ_TIMEOUT_S - 0.5, cut_after_s[:3]
    for answer in trickler.answers.values():
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"connection: close" in head.lower(), head
        assert b'"body_timeout"' in body, body
    assert fast_body is not None
    assert fast_body.status_code == 401, fast_body.text  # read whole: an unknown code
    # The slow clients gone, their threads serve again.
    after = httpx.post(f"{server.base}/v1/enroll", json={"enrollment_code": "y" * 12}, timeout=10)
    assert after.status_code == 401, after.text
    assert _healthz_s(server.base) < HEALTHZ_BOUND_S
