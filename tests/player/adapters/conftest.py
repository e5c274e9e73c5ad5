"""A small scriptable HTTP server on 127.0.0.1 (port 0) standing in for the control API."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from player.adapters.media_cache import MediaCache

_RANGE_RE = re.compile(r"bytes=(\d+)-$")


@dataclass
class MediaBehaviour:
    """Knobs a test turns to make the server misbehave."""

    cut_after_bytes: int | None = None  # send this many body bytes, then drop the connection
    cuts_left: int = 0  # how many responses are cut
    honour_range: bool = True
    etag_override: str | None = None  # the server's idea of the ETag (If-Range compares it)
    corrupt: bool = False  # flip one byte of the body
    status: int | None = None  # answer this status instead (with an error body)
    statuses: list[int] = field(default_factory=list)  # consumed one per request first
    retry_after: str | None = None
    range_start_shift: int = 0  # lie about Content-Range's start


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up mid-body on purpose (integrity errors, cancel): not a failure.
        pass


class FakeApiServer:
    """Serves ``/v1/media/<sha256>`` from ``files`` and scripted JSON elsewhere."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.media = MediaBehaviour()
        # path -> list of (status, headers, body); the last entry repeats.
        self.routes: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_file(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        self.files[sha] = content
        return sha

    def media_url(self, sha256: str) -> str:
        return f"{self.base_url}/v1/media/{sha256}"

    def script(self, path: str, *responses: tuple[int, dict[str, str], bytes]) -> None:
        self.routes[path] = list(responses)

    def media_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/media/")]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _record(self) -> RecordedRequest:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = RecordedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with server._lock:
                    server.requests.append(req)
                return req

            def do_GET(self) -> None:
                req = self._record()
                if req.path.startswith("/v1/media/"):
                    self._media(req)
                else:
                    self._scripted(req)

            def do_POST(self) -> None:
                self._scripted(self._record())

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status not in (204, 304):
                    self.wfile.write(body)

            def _scripted(self, req: RecordedRequest) -> None:
                path = req.path.split("?", 1)[0]
                responses = server.routes.get(path)
                if not responses:
                    self._send(404, {}, b'{"error": {"code": "not_found", "message": "no"}}')
                    return
                with server._lock:
                    status, headers, body = responses.pop(0) if len(responses) > 1 else responses[0]
                self._send(status, headers, body)

            def _media(self, req: RecordedRequest) -> None:
                b = server.media
                sha = req.path.rsplit("/", 1)[1]
                status = b.statuses.pop(0) if b.statuses else b.status
                if status is not None:
                    headers = {"Content-Type": "application/json"}
                    if b.retry_after is not None:
                        headers["Retry-After"] = b.retry_after
                    self._send(status, headers, b'{"error": {"code": "x", "message": "y"}}')
                    return
                content = server.files.get(sha)
                if content is None:
                    self._send(404, {}, b'{"error": {"code": "not_found", "message": "no"}}')
                    return
                if b.corrupt and content:
                    content = bytes([content[0] ^ 0xFF]) + content[1:]
                etag = b.etag_override or f'"{sha}"'
                headers = {"ETag": etag, "Accept-Ranges": "bytes"}
                start = 0
                status = 200
                match = _RANGE_RE.match(req.headers.get("range", ""))
                if_range = req.headers.get("if-range")
                if match and b.honour_range and (if_range is None or if_range == etag):
                    start = int(match.group(1))
                    status = 206
                    shown = start + b.range_start_shift
                    headers["Content-Range"] = f"bytes {shown}-{len(content) - 1}/{len(content)}"
                body = content[start:]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if b.cut_after_bytes is not None and b.cuts_left > 0:
                    b.cuts_left -= 1
                    self.wfile.write(body[: b.cut_after_bytes])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


@pytest.fixture
def api_server() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cache(tmp_path: Path) -> MediaCache:
    return MediaCache(tmp_path / "media")


def json_response(
    status: int, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


class FakeSleep:
    """Records requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def constant_random(value: float) -> Callable[[], float]:
    return lambda: value
