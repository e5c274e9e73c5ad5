"""Abuse-suite fixtures: an app per test (SQLite, and PostgreSQL when
LOMUZ_TEST_POSTGRES_URL is set), a controllable clock, a media store that
reports when an upload has finished, and the same app served on loopback.

The ``Api`` helper and the schema-per-test PostgreSQL pattern follow
tests/control_api/conftest.py.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from sqlalchemy import select

from control_api.app import LomuzApp, create_app
from control_api.media import ByteSource, LocalMediaStore, ReceivedMedia
from control_api.services import presence
from control_api.settings import load_settings
from control_api.store.db import Database
from control_api.store.models import Asset
from tests.control_api.conftest import Api, database_url  # noqa: F401 - the same fixture
from tests.control_api.media_samples import wav
from tests.control_api.openapi_check import CheckedClient
from tests.fakes.clock import FakeClock

MAX_UPLOAD_BYTES = 100_000


class ObservedMediaStore(LocalMediaStore):
    """The real local store; counts finished ``receive`` calls so tests can wait for them."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._cond = threading.Condition()
        self.finished = 0
        self.errors: list[BaseException] = []

    def receive(
        self, stream: ByteSource, limit_bytes: int, content_length: int | None
    ) -> ReceivedMedia:
        try:
            return super().receive(stream, limit_bytes, content_length)
        except BaseException as exc:
            with self._cond:
                self.errors.append(exc)
            raise
        finally:
            with self._cond:
                self.finished += 1
                self._cond.notify_all()

    def wait_finished(self, count: int, timeout_s: float = 10.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: self.finished >= count, timeout=timeout_s)
        assert ok, f"only {self.finished} of {count} uploads finished within {timeout_s}s"


@dataclass
class Env:
    """An app under test plus what the abuse tests inspect afterwards."""

    api: Api
    clock: FakeClock
    media: ObservedMediaStore
    media_dir: Path
    settings_env: dict[str, str] = field(default_factory=dict)

    def stored_files(self) -> list[Path]:
        """Every file under the media dir (content store and temp files)."""
        if not self.media_dir.exists():
            return []
        return sorted(p for p in self.media_dir.rglob("*") if p.is_file())

    def temp_files(self) -> list[Path]:
        tmp = self.media_dir / "tmp"
        return sorted(p for p in tmp.iterdir()) if tmp.exists() else []

    def asset_shas(self) -> set[str]:
        """sha256 of every asset row, all tenants."""
        with self.api.db.read() as s:
            return set(s.scalars(select(Asset.sha256)))

    def orphans(self) -> list[Path]:
        """Temp files, and stored files that no asset references."""
        shas = self.asset_shas()
        return [p for p in self.stored_files() if p.name not in shas]


@pytest.fixture
def settings_env(tmp_path: Path, database_url: str) -> dict[str, str]:  # noqa: F811
    return {
        "LOMUZ_DATABASE_URL": database_url,
        "LOMUZ_MEDIA_DIR": str(tmp_path / "media"),
        "LOMUZ_MEASURE_LOUDNESS": "0",  # no ffmpeg behind the tests' back
        "LOMUZ_TOKEN_CACHE_S": "0",
        "LOMUZ_LAST_SEEN_WRITE_S": "0",
        "LOMUZ_MAX_JSON_BYTES": "4096",
        "LOMUZ_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    }


def build_env(settings_env: dict[str, str], **overrides: Any) -> Iterator[Env]:
    settings = replace(load_settings(settings_env), **overrides)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    media = ObservedMediaStore(settings.media_dir)
    app = create_app(settings, media=media, now=clock)
    try:
        yield Env(
            Api(CheckedClient(app), app, app.deps.db),
            clock,
            media,
            settings.media_dir,
            settings_env,
        )
    finally:
        app.close()


@pytest.fixture
def env(settings_env: dict[str, str]) -> Iterator[Env]:
    yield from build_env(settings_env)


# ---------------------------------------------------------------- loopback server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # 50 clients connect at once: the default backlog of 5 would make the
    # kernel drop SYNs and stall clients for a second.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    """The app of ``env`` on a threaded wsgiref server bound to 127.0.0.1:0."""

    env: Env
    host: str
    port: int
    # Which server answers: the in-process wsgiref one, or a production one.
    server: str = "wsgiref"

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> Reply:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def raw(
        self,
        payload: bytes,
        *,
        half_close: bool,
        timeout_s: float = 10.0,
        piece_bytes: int | None = None,
        pause_s: float = 0.0,
    ) -> bytes:
        """Send ``payload`` on a fresh socket (in ``piece_bytes`` pieces, ``pause_s``
        apart, when given); with ``half_close`` read the reply, else drop.

        granian (hyper) takes a half-closed socket for a client that left and
        never answers it, so there the reply is read with the socket whole
        (the requests say ``Connection: close``: the server ends it)."""
        with socket.create_connection((self.host, self.port), timeout=timeout_s) as sock:
            step = piece_bytes or max(len(payload), 1)
            for at in range(0, len(payload), step):
                if at and pause_s:
                    time.sleep(pause_s)
                sock.sendall(payload[at : at + step])
            if not half_close:
                return b""
            if self.server != "granian":
                sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)


def serve(app: LomuzApp) -> Iterator[tuple[str, int]]:
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield "127.0.0.1", int(server.server_port)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def served(env: Env) -> Iterator[Served]:
    for host, port in serve(env.api.app):  # type: ignore[arg-type]
        yield Served(env, host, port)


def error_of(status: int, content_type: str | None, body: bytes) -> dict[str, str]:
    """The ``{"error": {...}}`` envelope of an error reply; fails the test if it is not one."""
    assert status >= 400, status
    assert content_type is not None and content_type.startswith("application/json"), (
        status,
        content_type,
        body[:300],
    )
    assert b"Traceback" not in body, body[:300]
    doc = json.loads(body)
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert isinstance(err.get("code"), str) and err["code"], doc
    assert isinstance(err.get("message"), str) and err["message"], doc
    return err  # type: ignore[no-any-return]


# ---------------------------------------------------------------- a seeded tenant

METHODS = ("get", "put", "post", "patch", "delete", "head")

# Which seeded objects of tenant A fill each templated path, one per parameter in order.
OBJECT_OF: dict[str, tuple[str, ...]] = {
    "/v1/assets/{id}": ("asset",),
    "/v1/playlists/{id}": ("playlist",),
    "/v1/devices/{id}": ("device",),
    "/v1/devices/{id}/enrollment-code": ("device",),
    "/v1/devices/{id}/commands": ("device",),
    "/v1/devices/{id}/presence": ("device",),
    "/v1/devices/{id}/commands/{command_id}": ("device", "command"),
    "/v1/device/commands/{command_id}": ("command",),
    "/v1/schedules/{id}": ("schedule",),
    "/v1/overrides/{id}": ("override",),
    "/v1/media/{sha256}": ("sha256",),
    "/v1/webhooks/{id}": ("webhook",),
    "/v1/webhooks/{id}/deliveries": ("webhook",),
}


def concrete_path(path: str, ids: dict[str, str]) -> str:
    """``path`` with each parameter replaced by the id of its object in ``ids``."""
    kinds = iter(OBJECT_OF.get(path, ()))
    return re.sub(r"\{[^}]+\}", lambda _m: ids[next(kinds)], path)


@dataclass
class Tenant:
    admin: str
    device_token: str
    ids: dict[str, str]
    play_id: str


def seed_tenant(api: Api, label: str) -> Tenant:
    """An asset, a playlist, a schedule, an enrolled device, one play, an override of the
    device, a remote command to it, a webhook and one presence transition of the device."""
    admin = api.tenant(label)
    data = wav(f"{label} bytes ".encode() * 500)
    asset = api.upload(admin, data, content_type="audio/wav", title=f"{label} song")
    assert asset.status_code == 201, asset.text
    playlist = api.call(
        "POST",
        "/v1/playlists",
        admin,
        json={"name": f"{label} day", "items": [{"asset_id": asset.json["id"]}]},
    )
    assert playlist.status_code == 201, playlist.text
    schedule = api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={"playlist_id": playlist.json["id"], "target": {"all": True}},
    )
    assert schedule.status_code == 201, schedule.text
    device_id, device_token = api.device(admin, name=f"{label} box", groups=[label])
    sha256 = hashlib.sha256(data).hexdigest()
    play_id = str(uuid.uuid4())
    plays = api.call(
        "POST",
        "/v1/device/plays",
        device_token,
        json={
            "plays": [
                {
                    "id": play_id,
                    "asset_id": asset.json["id"],
                    "sha256": sha256,
                    "started_at": "2026-11-23T10:00:00Z",
                    "ended_at": "2026-11-23T10:03:00Z",
                    "source": "playlist",
                    "outcome": "completed",
                }
            ]
        },
    )
    assert plays.status_code == 200, plays.text
    until = api.app.deps.now() + timedelta(days=1)  # type: ignore[attr-defined]
    override = api.call(
        "POST",
        "/v1/overrides",
        admin,
        json={
            "playlist_id": playlist.json["id"],
            "target": {"device_id": device_id},
            "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    assert override.status_code == 201, override.text
    command = api.call(
        "POST", f"/v1/devices/{device_id}/commands", admin, json={"type": "snapshot"}
    )
    assert command.status_code == 202, command.text
    webhook = api.call(
        "POST",
        "/v1/webhooks",
        admin,
        json={"url": f"https://hooks.example/{label}", "events": ["device.offline"]},
    )
    assert webhook.status_code == 201, webhook.text
    # One presence transition, as the MQTT listener would store it (no broker here).
    presence.record_presence(api.db, device_id, "online", api.app.deps.now())  # type: ignore[attr-defined]
    return Tenant(
        admin,
        device_token,
        {
            "asset": asset.json["id"],
            "playlist": playlist.json["id"],
            "schedule": schedule.json["id"],
            "device": device_id,
            "sha256": sha256,
            "override": override.json["id"],
            "command": command.json["id"],
            "webhook": webhook.json["id"],
        },
        play_id,
    )
