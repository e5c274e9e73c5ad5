"""Builders and loopback servers for the runtime tests.

``ScriptedServer`` is a stdlib HTTP server on 127.0.0.1:0 whose answers come
from a Python callable, so a test can inject faults (500s, Retry-After, a
skewed ``Date``, corrupt or slow bodies) and read back every request it saw.
``MediaFiles`` is such a callable serving files by sha256 with Range support.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from player import ports
from player.core.model import Manifest
from player.runtime.janitor import Janitor
from player.store.repository import PlayerStore
from player.wire import decode_manifest

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
ALL_DAYS = [1, 2, 3, 4, 5, 6, 7]


def store_janitor(
    store: PlayerStore,
    cache: ports.MediaFiles,
    clock: ports.Clock,
    *,
    max_cache_bytes: int | None = None,
    min_free_bytes: int = 0,
    **options: Any,
) -> Janitor:
    """A Janitor on ``store``'s parts, as ``PlayerParts`` builds it."""
    return Janitor(
        cache,
        clock,
        files=store.files,
        catalogue=store.catalogue,
        state=store.state,
        write_back=store.db.flush_deferred,
        max_cache_bytes=max_cache_bytes,
        min_free_bytes=min_free_bytes,
        **options,
    )


# -- content --------------------------------------------------------------------


def content(name: str, size_bytes: int = 1000) -> bytes:
    """Deterministic bytes for a named test file."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size_bytes // len(seed) + 1))[:size_bytes]


# A WAV header (PCM, 8 kHz mono, sizes unknown as a stream writer leaves them):
# enough for the allow-list (lomuz_rules.media_format) to let the bytes after it
# through to the output.
WAV_HEADER = (
    b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00"
    b"\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def asset_json(asset_id: str, data: bytes, *, emergency: bool = False) -> dict[str, Any]:
    digest = sha(data)
    return {
        "id": asset_id,
        "sha256": digest,
        "size": len(data),
        "media_type": "audio",
        "content_type": "audio/wav",
        "title": asset_id,
        "duration_ms": 1000,
        "valid_from": None,
        "valid_until": None,
        "emergency": emergency,
        "url": f"/v1/media/{digest}",
    }


def playlist_json(playlist_id: str, *asset_ids: str) -> dict[str, Any]:
    return {
        "id": playlist_id,
        "name": playlist_id,
        "items": [{"asset_id": a, "duration_ms": None} for a in asset_ids],
        "version": 1,
    }


def schedule_json(
    schedule_id: str,
    playlist_id: str,
    *,
    start: str = "00:00",
    end: str = "24:00",
    valid_until: str | None = None,
    priority: int = 0,
) -> dict[str, Any]:
    return {
        "id": schedule_id,
        "playlist_id": playlist_id,
        "target": "all",
        "priority": priority,
        "days": ALL_DAYS,
        "start_time": start,
        "end_time": end,
        "valid_from": None,
        "valid_until": valid_until,
        "created_at": "2026-01-01T00:00:00Z",
        "version": 1,
    }


def manifest_json(
    assets: Iterable[dict[str, Any]] = (),
    playlists: Iterable[dict[str, Any]] = (),
    schedules: Iterable[dict[str, Any]] = (),
    *,
    cursor: str = "r1",
    full: bool = True,
    deleted: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    return {
        "schema": 1,
        "cursor": cursor,
        "full": full,
        "server_time": "2026-03-02T12:00:00Z",
        "sync_interval_s": 600,
        "device": {"id": "dev-1", "name": "Shop", "timezone": "UTC", "groups": []},
        "assets": list(assets),
        "playlists": list(playlists),
        "schedules": list(schedules),
        "deleted": deleted or {"assets": [], "playlists": [], "schedules": []},
    }


def decoded(doc: dict[str, Any]) -> Manifest:
    return decode_manifest(json.dumps(doc).encode())


# -- the scripted server ---------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    """What to send back. ``chunks`` streams the body piece by piece (after ``delay_s``)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    delay_s: float = 0.0

    @classmethod
    def json(cls, status: int, doc: Any, **headers: str) -> Answer:
        return cls(
            status, json.dumps(doc).encode(), {"Content-Type": "application/json", **headers}
        )


Script = Callable[[Seen], Answer]


class ScriptedServer:
    """A threaded HTTP/1.0 server on loopback that answers with ``script``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self.date_offset_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                at = datetime.now(UTC) + timedelta(seconds=owner.date_offset_s)
                return format_datetime(at, usegmt=True)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with owner._lock:
                    owner.seen.append(seen)
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    owner._respond(self, seen)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a cancelled download)
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            do_GET = do_POST = do_PUT = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def paths(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [s.path for s in self.seen if s.path.startswith(prefix)]

    def _respond(self, handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        answer = self.script(seen)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        if answer.chunks is None and "Content-Length" not in answer.headers:
            handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        if answer.chunks is None:
            handler.wfile.write(answer.body)
            return
        for chunk in answer.chunks:
            handler.wfile.write(chunk)
            handler.wfile.flush()


# -- media files -------------------------------------------------------------------


class MediaFiles:
    """A script serving ``/v1/media/<sha256>`` with Range and If-Range, plus faults.

    ``corrupt``: sha256s served with one flipped byte (same length).
    ``gate``: when set to an Event, media requests wait for it before answering.
    ``slow``: sha256s streamed in 16 KiB pieces ``slow_delay_s`` apart.
    """

    def __init__(self, files: Iterable[bytes] = (), hold_s: float = 0.0) -> None:
        self.files: dict[str, bytes] = {sha(d): d for d in files}
        self.corrupt: set[str] = set()
        self.slow: set[str] = set()
        self.slow_delay_s = 0.02
        self.gate: threading.Event | None = None
        self.hold_s = hold_s

    def add(self, data: bytes) -> str:
        self.files[sha(data)] = data
        return sha(data)

    def __call__(self, seen: Seen) -> Answer:
        prefix = "/v1/media/"
        if not seen.path.startswith(prefix):
            return Answer.json(404, {"error": {"code": "not_found", "message": seen.path}})
        digest = seen.path[len(prefix) :]
        if self.gate is not None:
            self.gate.wait(10)
        data = self.files.get(digest)
        if data is None:
            return Answer.json(404, {"error": {"code": "not_found", "message": digest}})
        if digest in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        status = 200
        headers = {"Content-Type": "audio/wav", "ETag": f'"{digest}"', "Accept-Ranges": "bytes"}
        wanted = seen.headers.get("range", "")
        if_range = seen.headers.get("if-range")
        if (
            wanted.startswith("bytes=")
            and wanted.endswith("-")
            and (if_range is None or if_range == f'"{digest}"')
        ):
            start = int(wanted[len("bytes=") : -1])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        if digest in self.slow:
            return Answer(status, headers=headers, chunks=self._slowly(body), delay_s=self.hold_s)
        return Answer(status, body, headers, delay_s=self.hold_s)

    def _slowly(self, body: bytes) -> Iterator[bytes]:
        step = 16 * 1024
        for offset in range(0, len(body), step):
            yield body[offset : offset + step]
            time.sleep(self.slow_delay_s)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
