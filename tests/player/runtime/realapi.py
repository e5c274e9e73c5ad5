"""The real control API (``create_app``) served by wsgiref on loopback, with a
director's helpers to seed a tenant, content and an enrolled device."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from control_api.app import create_app
from control_api.settings import load_settings
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.media_samples import wav


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class RealApi:
    url: str
    admin: httpx.Client  # carries the tenant's admin token

    def call(self, method: str, path: str, **kw: Any) -> Any:
        reply = self.admin.request(method, path, **kw)
        assert reply.status_code < 300, reply.text
        return reply.json() if reply.content else None

    def upload(self, samples: bytes, *, emergency: bool = False) -> dict[str, Any]:
        """``samples`` as the PCM of a WAV file (the API takes only real media)."""
        params = {"filename": "x.wav", "emergency": "true" if emergency else "false"}
        result: dict[str, Any] = self.call(
            "POST",
            "/v1/assets",
            content=wav(samples),
            params=params,
            headers={"Content-Type": "audio/wav"},
        )
        return result

    def device(self) -> tuple[str, str]:
        created = self.call("POST", "/v1/devices", json={"name": "box"})
        enrolled = httpx.post(
            f"{self.url}v1/enroll", json={"enrollment_code": created["enrollment_code"]}
        )
        assert enrolled.status_code == 201, enrolled.text
        body = enrolled.json()
        return str(body["device_id"]), str(body["device_token"])


@contextmanager
def real_api(tmp_path: Path) -> Iterator[RealApi]:
    env = {
        "LOMUZ_DATABASE_URL": f"sqlite:///{tmp_path / 'control.db'}",
        "LOMUZ_MEDIA_DIR": str(tmp_path / "control-media"),
        "LOMUZ_MEASURE_LOUDNESS": "0",  # no ffmpeg behind the tests' back
        "LOMUZ_TOKEN_CACHE_S": "0",
        "LOMUZ_LAST_SEEN_WRITE_S": "0",
    }
    settings = load_settings(env)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    with migrator.write() as s:
        _, admin_token = repo.create_tenant(s, "shop", datetime.now(UTC))
    migrator.dispose()
    app = create_app(settings)
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"})
    try:
        yield RealApi(url, admin)
    finally:
        admin.close()
        server.shutdown()
        server.server_close()
        thread.join(5)
        app.close()
