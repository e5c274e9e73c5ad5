"""Fixtures for the robustness suites: a tiny stdlib HTTP/1.1 upstream on loopback."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from collections.abc import Iterator

import pytest

BLOB = bytes((i * 31 + 7) % 251 for i in range(64 * 1024))
BLOB_SHA256 = hashlib.sha256(BLOB).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self.server.count(self.path)
        if self.path == "/blob":
            etag = f'"{BLOB_SHA256}"'
            rng = self.headers.get("Range")
            if rng is not None:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
                assert m is not None
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(BLOB) - 1
                self._send(
                    206,
                    BLOB[start : end + 1],
                    {
                        "Content-Range": f"bytes {start}-{end}/{len(BLOB)}",
                        "ETag": etag,
                        "Accept-Ranges": "bytes",
                    },
                )
                return
            self._send(
                200,
                BLOB,
                {
                    "ETag": etag,
                    "Accept-Ranges": "bytes",
                    "Content-Type": "application/octet-stream",
                },
            )
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(BLOB), 10_000):
                piece = BLOB[start : start + 10_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/not-modified":
            self.send_response(304)
            self.send_header("ETag", '"x"')
            self.end_headers()
        else:
            self._send(404, b'{"error": {"code": "not_found", "message": "no"}}')

    def do_POST(self) -> None:
        self.server.count(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(200, body, {"Content-Type": "application/octet-stream"})


class _Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
