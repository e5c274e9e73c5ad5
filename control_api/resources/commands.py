"""Remote commands: a director sends and reads them (admin token); the device picks
up its open ones and acknowledges them (device token)."""

from __future__ import annotations

import falcon

from control_api import http, wire
from control_api.command_publishing import publisher_for
from control_api.deps import Deps
from control_api.resources import bodies
from control_api.services import commands


class DeviceCommands:
    """``POST /v1/devices/{id}/commands`` → 202 Command (pending; published when it can be);
    ``GET``: a page of the device's commands, newest first."""

    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        limit, after = http.list_params(req)
        page = commands.recent_commands(
            self.deps.db,
            req.context.principal.tenant_id,
            device_id,
            limit,
            after,
            now=self.deps.now(),
        )
        http.send(resp, wire.commands_page(page.items, page.next))

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        command_type, value, expires_at = bodies.command(
            http.read_json(req, self.deps.settings.max_json_bytes)
        )
        view = commands.send_command(
            self.deps.db,
            req.context.principal.tenant_id,
            device_id,
            command_type=command_type,
            value=value,
            expires_at=expires_at,
            now=self.deps.now(),
            publish=publisher_for(self.deps, device_id),
        )
        resp.status = falcon.HTTP_202
        resp.set_header("Location", f"/v1/devices/{device_id}/commands/{view.row.id}")
        http.send(resp, wire.command(view))


class DeviceCommandItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, command_id: str
    ) -> None:
        view = commands.get_command(
            self.deps.db,
            req.context.principal.tenant_id,
            device_id,
            command_id,
            now=self.deps.now(),
        )
        http.send(resp, wire.command(view))


class OpenCommands:
    """``GET /v1/device/commands``: the device's commands still to run (the pick-up)."""

    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ())
        principal = req.context.principal
        views = commands.open_commands(
            self.deps.db, principal.tenant_id, principal.device_id, now=self.deps.now()
        )
        http.send(resp, wire.commands_list(views))


class Acknowledge:
    """``POST /v1/device/commands/{id}`` ``{"state", "result"?}`` → 200 Command."""

    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response, command_id: str) -> None:
        state, result = bodies.command_ack(http.read_json(req, self.deps.settings.max_json_bytes))
        principal = req.context.principal
        view = commands.acknowledge(
            self.deps.db,
            principal.tenant_id,
            principal.device_id,
            command_id,
            ack=state,
            result=result,
            now=self.deps.now(),
        )
        http.send(resp, wire.command(view))
