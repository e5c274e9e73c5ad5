"""A fault-injecting HTTP/1.1 proxy for robustness tests.

``FaultProxy`` listens on 127.0.0.1 (port 0), forwards each request to one
upstream ``host:port`` and, per request, applies the ``Fault`` that its policy
decides: pass through, drop the connection, reset it (RST), stall, answer 5xx
or 429 itself, truncate or corrupt the body, or lie about ``Content-Length``.

Invariants:
- Decisions are taken under one lock in arrival order, so a policy seeded the
  same way makes the same decisions for the same sequence of requests; bit
  flips are derived from ``(fault.seed, request index)``.
- Pass-through is byte-identical: the request and the response (head and
  body) are forwarded as read. Each client connection is paired with at most
  one upstream connection, opened lazily, so keep-alive works end to end.
- Everything is bounded: every socket has a timeout, stalls are capped by
  ``max_stall_s`` and end early on ``close()``, threads are daemons, and
  response bodies are held in memory up to ``max_body_bytes``.

A body fault on a chunked response first re-frames the body with
``Content-Length`` so that truncation, corruption and wrong lengths mean the
same thing whatever framing the upstream chose.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPolicy",
    "FaultProxy",
    "ProxyStats",
    "RandomPolicy",
    "RequestInfo",
    "RequestRecord",
    "ScriptedPolicy",
]

_MAX_HEAD_BYTES = 64 * 1024
_IO_CHUNK_BYTES = 64 * 1024


class FaultKind(enum.StrEnum):
    PASS = "pass"
    DROP = "drop"  # close (FIN) without a response
    RESET = "reset"  # RST via SO_LINGER 0, optionally mid-body
    STALL = "stall"  # wait, then pass (before the head or mid-body)
    ERROR = "error"  # a 5xx from the proxy itself
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After from the proxy itself
    TRUNCATE = "truncate"  # send part of the body, then FIN
    CORRUPT = "corrupt"  # flip bits in the body; length unchanged
    WRONG_LENGTH = "wrong_length"  # Content-Length off by ``length_delta``, then FIN


@dataclasses.dataclass(frozen=True)
class Fault:
    """What to do with one request. Build with the class methods.

    ``fraction`` is where in the body a mid-body fault happens (0.0..1.0);
    ``None`` means before the response head. ``forward`` for DROP/ERROR/
    RATE_LIMIT sends the request upstream first (the server acts, the answer is
    lost), which is how to test idempotent retries.
    """

    kind: FaultKind = FaultKind.PASS
    fraction: float | None = None
    stall_s: float = 0.0
    status: int = 503
    retry_after_s: int = 1
    forward: bool = False
    flips: int = 1
    length_delta: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, got {self.fraction}")
        if self.stall_s < 0:
            raise ValueError(f"stall_s must be >= 0, got {self.stall_s}")
        if self.flips < 1:
            raise ValueError(f"flips must be >= 1, got {self.flips}")
        if self.length_delta == 0:
            raise ValueError("length_delta must not be 0")
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status, got {self.status}")

    @classmethod
    def passthrough(cls) -> Fault:
        return cls()

    @classmethod
    def drop(cls, *, forward: bool = False) -> Fault:
        return cls(FaultKind.DROP, forward=forward)

    @classmethod
    def reset(cls, *, fraction: float | None = 0.5) -> Fault:
        return cls(FaultKind.RESET, fraction=fraction)

    @classmethod
    def stall(cls, stall_s: float, *, fraction: float | None = None) -> Fault:
        return cls(FaultKind.STALL, stall_s=stall_s, fraction=fraction)

    @classmethod
    def error(cls, status: int = 503, *, forward: bool = False) -> Fault:
        if not 500 <= status <= 599:
            raise ValueError(f"error status must be 5xx, got {status}")
        return cls(FaultKind.ERROR, status=status, forward=forward)

    @classmethod
    def rate_limit(cls, retry_after_s: int = 1, *, forward: bool = False) -> Fault:
        if retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {retry_after_s}")
        return cls(FaultKind.RATE_LIMIT, status=429, retry_after_s=retry_after_s, forward=forward)

    @classmethod
    def truncate(cls, *, fraction: float = 0.5) -> Fault:
        return cls(FaultKind.TRUNCATE, fraction=fraction)

    @classmethod
    def corrupt(cls, *, flips: int = 1, seed: int = 0) -> Fault:
        return cls(FaultKind.CORRUPT, flips=flips, seed=seed)

    @classmethod
    def wrong_length(cls, delta: int = 100) -> Fault:
        return cls(FaultKind.WRONG_LENGTH, length_delta=delta)


PASS = Fault()


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """The request a policy decides on. ``headers`` keys are lower case."""

    index: int
    method: str
    target: str
    headers: Mapping[str, str]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class FaultPolicy:
    """Decides the fault for each request; called under the proxy's lock."""

    def decide(self, request: RequestInfo) -> Fault:
        raise NotImplementedError


Matcher = Callable[[RequestInfo], bool]


class ScriptedPolicy(FaultPolicy):
    """Applies ``faults`` in order to the matching requests, then ``then``.

    Requests that ``match`` rejects pass through and do not consume the script.
    """

    def __init__(
        self, faults: Iterable[Fault], *, then: Fault = PASS, match: Matcher | None = None
    ) -> None:
        self._faults = collections.deque(faults)
        self._then = then
        self._match = match

    def decide(self, request: RequestInfo) -> Fault:
        if self._match is not None and not self._match(request):
            return PASS
        return self._faults.popleft() if self._faults else self._then

    @property
    def remaining(self) -> int:
        return len(self._faults)


class RandomPolicy(FaultPolicy):
    """Picks a fault per matching request with the given probabilities.

    ``weights`` maps a fault to its probability; what remains up to 1.0 passes.
    Deterministic for a given ``seed`` and request order.
    """

    def __init__(
        self,
        weights: Mapping[Fault, float] | Sequence[tuple[Fault, float]],
        *,
        seed: int = 0,
        match: Matcher | None = None,
    ) -> None:
        items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        total = 0.0
        for fault, p in items:
            if p < 0:
                raise ValueError(f"probability of {fault.kind} must be >= 0, got {p}")
            total += p
        if total > 1.0 + 1e-9:
            raise ValueError(f"probabilities add up to {total}, more than 1")
        self._items = items
        self._rng = random.Random(seed)
        self._match = match

    def decide(self, request: RequestInfo) -> Fault:
        if self._match is not None and not self._match(request):
            return PASS
        x = self._rng.random()
        for fault, p in self._items:
            if x < p:
                return fault
            x -= p
        return PASS


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    index: int
    at_s: float  # time.monotonic() when the request head was read
    method: str
    target: str
    fault: FaultKind
    status: int | None  # the status the client was sent (None: no response head)


@dataclasses.dataclass(frozen=True)
class ProxyStats:
    requests_total: int
    forwarded_total: int  # requests sent upstream
    connections_total: int
    by_fault: Mapping[FaultKind, int]


class _PeerClosedError(Exception):
    """The peer closed or the proxy is shutting down."""


class _Reader:
    """Buffered reads on a socket with size caps."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def _fill(self) -> bool:
        data = self._sock.recv(_IO_CHUNK_BYTES)
        if not data:
            return False
        self._buf += data
        return True

    def read_head(self) -> bytes | None:
        """Bytes up to and including the blank line; None on a clean EOF first."""
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buf[: end + 4])
                del self._buf[: end + 4]
                return head
            if len(self._buf) > _MAX_HEAD_BYTES:
                raise _PeerClosedError("head too large")
            if not self._fill():
                if self._buf:
                    raise _PeerClosedError("EOF inside a head")
                return None

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise _PeerClosedError("EOF inside a body")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read_line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[: end + 2])
                del self._buf[: end + 2]
                return line
            if len(self._buf) > _MAX_HEAD_BYTES:
                raise _PeerClosedError("line too long")
            if not self._fill():
                raise _PeerClosedError("EOF inside a chunked body")

    def read_chunked(self, max_bytes: int) -> tuple[bytes, bytes]:
        """Returns (raw bytes with framing, decoded body)."""
        raw = bytearray()
        body = bytearray()
        while True:
            line = self.read_line()
            raw += line
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _PeerClosedError(f"bad chunk size line {line!r}") from exc
            if size == 0:
                while True:  # trailers up to the blank line
                    trailer = self.read_line()
                    raw += trailer
                    if trailer == b"\r\n":
                        return bytes(raw), bytes(body)
            if len(body) + size > max_bytes:
                raise _PeerClosedError("body too large")
            chunk = self.read_exact(size + 2)
            raw += chunk
            body += chunk[:-2]

    def read_to_eof(self, max_bytes: int) -> bytes:
        while self._fill():
            if len(self._buf) > max_bytes:
                raise _PeerClosedError("body too large")
        data = bytes(self._buf)
        self._buf.clear()
        return data


def _parse_headers(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _PeerClosedError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _is_chunked(headers: list[tuple[str, str]]) -> bool:
    te = _header(headers, "transfer-encoding")
    return te is not None and te.lower().split(",")[-1].strip() == "chunked"


def _wants_close(headers: list[tuple[str, str]]) -> bool:
    conn = _header(headers, "connection")
    return conn is not None and "close" in conn.lower()


def _build_head(start_line: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _with_length(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
    return [*kept, ("Content-Length", str(length))]


@dataclasses.dataclass
class _Response:
    head: bytes
    status: int
    headers: list[tuple[str, str]]
    start_line: str
    raw_body: bytes  # as framed on the wire
    body: bytes  # decoded (same as raw_body unless chunked)
    chunked: bool
    close_delimited: bool


class FaultProxy:
    """Threaded HTTP/1.1 proxy with a programmable, switchable fault policy.

    Use as a context manager (or call ``close()``). ``url`` is the base URL to
    give to clients. ``set_policy`` may be called at any time from any thread;
    it applies to the next request read.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        policy: FaultPolicy | None = None,
        max_stall_s: float = 30.0,
        io_timeout_s: float = 30.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        max_records: int = 100_000,
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._policy: FaultPolicy = policy or ScriptedPolicy([])
        self._max_stall_s = max_stall_s
        self._io_timeout_s = io_timeout_s
        self._max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=max_records)
        self._requests_total = 0
        self._forwarded_total = 0
        self._connections_total = 0
        self._by_fault: collections.Counter[FaultKind] = collections.Counter()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True
        )
        self._accept_thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control -----------------------------------------------------------

    def set_policy(self, policy: FaultPolicy) -> None:
        with self._lock:
            self._policy = policy

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(
                requests_total=self._requests_total,
                forwarded_total=self._forwarded_total,
                connections_total=self._connections_total,
                by_fault=dict(self._by_fault),
            )

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def reset_stats(self) -> None:
        with self._lock:
            self._records.clear()
            self._requests_total = 0
            self._forwarded_total = 0
            self._connections_total = 0
            self._by_fault.clear()

    def max_requests_in_window(self, window_s: float, *, match: Matcher | None = None) -> int:
        """Most requests seen within any ``window_s`` of monotonic time."""
        times = [
            r.at_s
            for r in self.records()
            if match is None or match(RequestInfo(r.index, r.method, r.target, {}))
        ]
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] > window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks = list(self._sockets)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accept_thread.join(timeout=2.0)
        for thread in list(self._threads):
            thread.join(timeout=2.0)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    def _track(self, sock: socket.socket) -> None:
        sock.settimeout(self._io_timeout_s)
        with self._lock:
            self._sockets.add(sock)

    def _untrack_close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            with self._lock:
                self._connections_total += 1
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(
                    target=self._serve,
                    args=(client,),
                    name=f"faultproxy-conn-{self._connections_total}",
                    daemon=True,
                )
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        up_reader: _Reader | None = None
        reader = _Reader(client)
        try:
            while not self._stop.is_set():
                head = reader.read_head()
                if head is None:
                    return
                request_line, headers = _parse_headers(head)
                method, target, version = [*request_line.split(" ", 2), "", ""][:3]
                if _is_chunked(headers):
                    raw_body, _ = reader.read_chunked(self._max_body_bytes)
                else:
                    raw_body = reader.read_exact(int(_header(headers, "content-length") or 0))
                request_bytes = head + raw_body
                client_close = _wants_close(headers) or version == "HTTP/1.0"

                with self._lock:
                    index = self._requests_total
                    self._requests_total += 1
                    info = RequestInfo(index, method, target, {k.lower(): v for k, v in headers})
                    fault = self._policy.decide(info)
                    self._by_fault[fault.kind] += 1
                at_s = time.monotonic()

                def record(
                    status: int | None,
                    *,
                    _fault: Fault = fault,
                    _index: int = index,
                    _at_s: float = at_s,
                    _method: str = method,
                    _target: str = target,
                ) -> None:
                    with self._lock:
                        self._records.append(
                            RequestRecord(_index, _at_s, _method, _target, _fault.kind, status)
                        )

                needs_upstream = (
                    fault.kind not in (FaultKind.DROP, FaultKind.ERROR, FaultKind.RATE_LIMIT)
                    or fault.forward
                )
                response: _Response | None = None
                if needs_upstream:
                    if upstream is None:
                        upstream, up_reader = self._connect()
                    assert up_reader is not None
                    try:
                        response = self._exchange(upstream, up_reader, request_bytes, method)
                    except _PeerClosedError:
                        # A kept-alive upstream may have timed out the idle
                        # connection: retry once on a fresh one (as clients do).
                        self._untrack_close(upstream)
                        upstream, up_reader = self._connect()
                        response = self._exchange(upstream, up_reader, request_bytes, method)
                    with self._lock:
                        self._forwarded_total += 1
                    if response.close_delimited or _wants_close(response.headers):
                        self._untrack_close(upstream)
                        upstream, up_reader = None, None

                keep = self._respond(client, fault, response, index, record)
                if (
                    not keep
                    or client_close
                    or (
                        response is not None
                        and (response.close_delimited or _wants_close(response.headers))
                    )
                ):
                    return
        except (_PeerClosedError, OSError):
            return
        finally:
            if upstream is not None:
                self._untrack_close(upstream)
            self._untrack_close(client)

    def _connect(self) -> tuple[socket.socket, _Reader]:
        sock = socket.create_connection(self._upstream, timeout=self._io_timeout_s)
        self._track(sock)
        return sock, _Reader(sock)

    def _exchange(
        self, upstream: socket.socket, reader: _Reader, request: bytes, method: str
    ) -> _Response:
        upstream.sendall(request)
        head = reader.read_head()
        if head is None:
            raise _PeerClosedError("upstream closed before responding")
        start_line, headers = _parse_headers(head)
        try:
            status = int(start_line.split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise _PeerClosedError(f"bad status line {start_line!r}") from exc
        chunked = False
        close_delimited = False
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            raw = body = b""
        elif _is_chunked(headers):
            chunked = True
            raw, body = reader.read_chunked(self._max_body_bytes)
        elif (length := _header(headers, "content-length")) is not None:
            if int(length) > self._max_body_bytes:
                raise _PeerClosedError("body too large")
            raw = body = reader.read_exact(int(length))
        else:
            close_delimited = True
            raw = body = reader.read_to_eof(self._max_body_bytes)
        return _Response(head, status, headers, start_line, raw, body, chunked, close_delimited)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(min(seconds, self._max_stall_s))

    def _respond(
        self,
        client: socket.socket,
        fault: Fault,
        response: _Response | None,
        index: int,
        record: Callable[[int | None], None],
    ) -> bool:
        """Writes what the fault says; returns whether the connection may be reused."""
        kind = fault.kind
        if kind is FaultKind.DROP:
            record(None)
            return False
        if kind in (FaultKind.ERROR, FaultKind.RATE_LIMIT):
            record(fault.status)
            client.sendall(self._synthesized(fault))
            return True
        assert response is not None
        # Record before writing: a client that got its answer sees it counted.
        if kind is FaultKind.PASS:
            record(response.status)
            client.sendall(response.head + response.raw_body)
            return True
        if kind is FaultKind.STALL:
            record(response.status)
            if fault.fraction is None:
                self._sleep(fault.stall_s)
                client.sendall(response.head + response.raw_body)
            else:
                cut = int(len(response.raw_body) * fault.fraction)
                client.sendall(response.head + response.raw_body[:cut])
                self._sleep(fault.stall_s)
                client.sendall(response.raw_body[cut:])
            return True
        if kind is FaultKind.RESET:
            if fault.fraction is not None:
                cut = int(len(response.raw_body) * fault.fraction)
                record(response.status)
                client.sendall(response.head + response.raw_body[:cut])
            else:
                record(None)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False

        # Body faults: re-frame with Content-Length (see the module docstring).
        head = response.head
        if response.chunked:
            head = _build_head(
                response.start_line, _with_length(response.headers, len(response.body))
            )
        body = response.body
        if kind is FaultKind.TRUNCATE:
            cut = int(len(body) * (fault.fraction if fault.fraction is not None else 0.5))
            if body and cut >= len(body):
                cut = len(body) - 1  # a truncation always loses at least one byte
            record(response.status)
            client.sendall(head + body[:cut])
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
            return False
        if kind is FaultKind.CORRUPT:
            record(response.status)
            client.sendall(head + _flip_bits(body, fault.flips, (fault.seed, index)))
            return True
        if kind is FaultKind.WRONG_LENGTH:
            declared = max(0, len(body) + fault.length_delta)
            # "Connection: close" so a client that believes a short length does
            # not race to reuse a connection the proxy is about to close.
            headers = [
                (k, v)
                for k, v in _with_length(response.headers, declared)
                if k.lower() != "connection"
            ] + [("Connection", "close")]
            record(response.status)
            client.sendall(_build_head(response.start_line, headers) + body)
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
            return False
        raise AssertionError(f"unhandled fault kind {kind}")

    @staticmethod
    def _synthesized(fault: Fault) -> bytes:
        if fault.kind is FaultKind.RATE_LIMIT:
            code, reason, extra = (
                "rate_limited",
                "Too Many Requests",
                [("Retry-After", str(fault.retry_after_s))],
            )
        else:
            code, reason, extra = "injected_fault", "Injected Fault", []
        body = json.dumps(
            {"error": {"code": code, "message": f"fault proxy answered {fault.status}"}}
        ).encode()
        headers = [("Content-Type", "application/json"), *extra, ("Content-Length", str(len(body)))]
        return _build_head(f"HTTP/1.1 {fault.status} {reason}", headers) + body


def _flip_bits(body: bytes, flips: int, seed: tuple[int, int]) -> bytes:
    if not body:
        return body
    rng = random.Random(f"{seed[0]}:{seed[1]}")
    data = bytearray(body)
    positions = rng.sample(range(len(data) * 8), min(flips, len(data) * 8))
    for bit in positions:
        data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)
