"""Director endpoints for overrides (admin token): ``/v1/overrides``."""

from __future__ import annotations

import falcon

from control_api import http, wire
from control_api.deps import Deps
from control_api.resources import bodies
from control_api.services import overrides


class Overrides:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The overrides that have not ended."""
        limit, after = http.list_params(req)
        tenant_id = req.context.principal.tenant_id
        page = overrides.list_active(self.deps.db, tenant_id, self.deps.now(), limit, after)
        http.send(resp, wire.overrides_page(page.items, page.next))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = bodies.override(http.read_json(req, self.deps.settings.max_json_bytes))
        override = overrides.create_override(
            self.deps.db,
            req.context.principal.tenant_id,
            fields,
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        http.created(resp, "overrides", override.id)
        http.send(resp, wire.override(override))


class OverrideItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, override_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        http.send(resp, wire.override(overrides.get_override(self.deps.db, tenant_id, override_id)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, override_id: str) -> None:
        overrides.delete_override(
            self.deps.db,
            req.context.principal.tenant_id,
            override_id,
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        resp.status = falcon.HTTP_204
