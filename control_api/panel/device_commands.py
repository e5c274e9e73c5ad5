"""The device page's Commands section: the buttons and volume form that send a remote
command (``services.commands``, as ``POST /v1/devices/{id}/commands`` does), and the
list of the device's recent commands, which htmx refreshes while one is still open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from control_api.command_publishing import publisher_for
from control_api.deps import Deps
from control_api.panel import command_views as views
from control_api.panel import device_views
from control_api.panel.forms import read_form, signed_in
from control_api.panel.templates import Pages
from control_api.services import commands, devices

RECENT_COMMANDS = 10
POLL_S = 2  # how often the list refreshes while a command is open


def commands_context(deps: Deps, tenant_id: str, device_id: str) -> dict[str, Any]:
    """What the device page and the list fragment show of the device's commands."""
    recent = commands.recent_commands(
        deps.db, tenant_id, device_id, RECENT_COMMANDS, None, now=deps.now()
    )
    rows = views.command_rows(recent.items)
    return {
        "commands": rows,
        "commands_open": views.any_open(rows),
        "command_views": views,
        "poll_s": POLL_S,
    }


class DeviceCommands:
    """``GET /devices/{id}/commands``: the recent-commands fragment (htmx polls it).
    ``POST`` (editor) ``type=&volume=``: the command is sent, then the device page
    (303); a refused volume is shown in its form (422), nothing sent."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages, render_device_page: Callable[..., None]) -> None:
        self.deps, self.pages, self.render_device_page = deps, pages, render_device_page

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        tenant = signed_in(req).tenant_id
        device = devices.get_device(self.deps.db, tenant, device_id)  # another tenant's: 404
        context = commands_context(self.deps, tenant, device_id)
        context |= {"device": device, "now": self.deps.now(), "views": device_views}
        self.pages.render(req, resp, "device_commands.html", context)

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        tenant = signed_in(req).tenant_id
        form = views.read_command_form(read_form(req, self.deps.settings.max_json_bytes))
        devices.get_device(self.deps.db, tenant, device_id)  # another tenant's: 404, not 422
        checked = views.check_command_form(form)
        if checked is None:
            self.render_device_page(req, resp, device_id, status=falcon.HTTP_422, command_form=form)
            return
        command_type, value = checked
        commands.send_command(
            self.deps.db,
            tenant,
            device_id,
            command_type=command_type,
            value=value,
            expires_at=None,
            now=self.deps.now(),
            publish=publisher_for(self.deps, device_id),
        )
        resp.status = falcon.HTTP_303
        resp.location = f"/devices/{device_id}?done=command#commands"
