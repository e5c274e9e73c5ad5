"""The one error mapping: unexpected failures answer a bare 500 JSON, never a traceback."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from control_api.app import create_app
from control_api.media import ByteSource, ReceivedMedia, Swept
from control_api.settings import load_settings
from control_api.store.db import Database
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.control_api.openapi_check import CheckedClient


class FakeBrokenMediaStore:
    """A media store whose disk has gone away."""

    def receive(
        self, stream: ByteSource, limit_bytes: int, content_length: int | None
    ) -> ReceivedMedia:
        raise RuntimeError("secret internal detail /srv/media")

    def commit(self, received: ReceivedMedia) -> None:
        raise AssertionError("not reached")

    def discard(self, received: ReceivedMedia) -> None:
        raise AssertionError("not reached")

    def path_for(self, sha256: str) -> Path:
        return Path("/nonexistent") / sha256

    def exists(self, sha256: str) -> bool:
        return False

    def inspect(self, received: ReceivedMedia, media_type: str) -> int | None:
        raise AssertionError("not reached")

    def remove(self, sha256: str) -> int:
        return 0

    def stored(self) -> list[tuple[str, int]]:
        return []

    def cleanup_stale_temp(self, older_than_s: float) -> Swept:
        return Swept()


def test_unexpected_errors_are_a_bare_500(settings_env: dict[str, str]) -> None:
    settings = replace(load_settings(settings_env))
    db = Database(settings.database_url)
    db.upgrade()
    db.dispose()
    app = create_app(settings, media=FakeBrokenMediaStore())
    try:
        api = Api(CheckedClient(app), app, app.deps.db)
        admin = api.tenant()
        reply = api.upload(admin, wav(b"abc"))
        assert reply.status_code == 500
        assert reply.json == {
            "error": {"code": "internal_error", "message": "internal server error"}
        }
        assert "secret" not in reply.text
        assert api.call("GET", "/v1/assets", admin).json["items"] == []
    finally:
        app.close()
