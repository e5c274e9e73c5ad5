"""Operations endpoints: health, Prometheus metrics, the OpenAPI document (no auth)."""

from __future__ import annotations

import falcon

from control_api.deps import Deps
from control_api.store import repository as repo


class Health:
    auth = None

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.deps.db.ping():
            resp.media = {"status": "ok"}
            return
        resp.status = falcon.HTTP_503
        resp.media = {
            "error": {"code": "database_unavailable", "message": "the database does not answer"}
        }


class MetricsResource:
    auth = None

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.deps.db.read() as s:
            total, online = repo.count_devices(
                s, self.deps.now(), self.deps.settings.telemetry_interval_s
            )
        body, content_type = self.deps.metrics.render(
            {"lomuz_devices": total, "lomuz_devices_online": online}
        )
        resp.data = body
        resp.content_type = content_type


class OpenApi:
    auth = None

    def __init__(self) -> None:
        self._document: dict[str, object] | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from control_api.openapi import build_openapi

        if self._document is None:
            self._document = build_openapi()
        resp.media = self._document
