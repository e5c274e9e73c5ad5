"""Webhooks for alerts (admin token): create, list, read, delete, the delivery log."""

from __future__ import annotations

import falcon

from control_api import http, wire
from control_api.deps import Deps
from control_api.resources import bodies
from control_api.services import webhooks


class Webhooks:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = http.list_params(req)
        page = webhooks.list_webhooks(self.deps.db, req.context.principal.tenant_id, limit, after)
        http.send(resp, wire.webhooks_page(page.items, page.next))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        new = bodies.webhook(http.read_json(req, self.deps.settings.max_json_bytes))
        created = webhooks.create_webhook(
            self.deps.db,
            req.context.principal.tenant_id,
            new,
            now=self.deps.now(),
            allow_http=self.deps.settings.webhooks_allow_http,
        )
        http.created(resp, "webhooks", created.webhook.id)
        http.send(resp, wire.webhook_created(created))


class WebhookItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        found = webhooks.get_webhook(self.deps.db, req.context.principal.tenant_id, webhook_id)
        http.send(resp, wire.webhook(found))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        """Its open alerts and its delivery log go with it."""
        webhooks.delete_webhook(self.deps.db, req.context.principal.tenant_id, webhook_id)
        resp.status = falcon.HTTP_204


class Deliveries:
    """``GET /v1/webhooks/{id}/deliveries``: the delivery log, newest first."""

    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        limit, after = http.list_params(req)
        page = webhooks.list_deliveries(
            self.deps.db, req.context.principal.tenant_id, webhook_id, limit, after
        )
        http.send(resp, wire.deliveries_page(page.items, page.next))
