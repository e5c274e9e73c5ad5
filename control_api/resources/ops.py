"""Operations endpoints: health, Prometheus metrics, the OpenAPI document.

None takes a tenant's token; /metrics takes the server's LOMUZ_METRICS_TOKEN.
"""

from __future__ import annotations

import hmac

import falcon
import msgspec

from control_api import http
from control_api import models as m
from control_api.deps import Deps
from control_api.errors import PermissionDenied, Unauthenticated
from control_api.services import devices


class Health:
    auth = None

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.deps.db.ping():
            http.send(resp, m.Health(status="ok"))
            return
        resp.status = falcon.HTTP_503
        http.send(resp, m.error("database_unavailable", "the database does not answer"))

    # Load balancers and uptime checks probe with HEAD: the same answer, no body.
    on_head = on_get


class MetricsResource:
    """All tenants' counts, so never public: ``Authorization: Bearer`` the server's
    LOMUZ_METRICS_TOKEN (compared in constant time); no token set: 403."""

    auth = None

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _check_token(self, req: falcon.Request) -> None:
        expected = self.deps.settings.metrics_token
        if expected is None:
            raise PermissionDenied(
                "/metrics is off: give the server a token (LOMUZ_METRICS_TOKEN, or the "
                "file LOMUZ_METRICS_TOKEN_FILE names) and scrape with Authorization: Bearer",
                "metrics_disabled",
            )
        scheme, _, given = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()
        ):
            raise Unauthenticated(
                "/metrics needs Authorization: Bearer <LOMUZ_METRICS_TOKEN>", realm="metrics"
            )

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._check_token(req)
        counts = devices.count_devices(
            self.deps.db, self.deps.now(), self.deps.settings.telemetry_interval_s
        )
        body, content_type = self.deps.metrics.render(
            {"lomuz_devices": counts.total, "lomuz_devices_online": counts.online}
        )
        resp.data = body
        resp.content_type = content_type


class OpenApi:
    auth = None

    def __init__(self) -> None:
        self._document: bytes | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from control_api.openapi import build_openapi

        if self._document is None:
            self._document = msgspec.json.encode(build_openapi())
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._document
