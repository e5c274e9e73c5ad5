"""The panel's Devices section: the fleet table, adding a device, a device's page and
its edit form, a new enrollment code, decommissioning (its commands, overrides, and
presence and alerts: ``device_commands``, ``overrides``, ``device_alerts``). Each
handler parses the query or form, calls the use cases the JSON API calls, and renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import falcon
import segno

from control_api.core import enrollment_codes
from control_api.core.validation import MAX_GROUP_CHARS, MAX_NAME_CHARS
from control_api.deps import Deps
from control_api.errors import Conflict, InvalidField
from control_api.panel import device_alerts
from control_api.panel import device_views as views
from control_api.panel import overrides as override_section
from control_api.panel.command_views import CommandForm
from control_api.panel.device_commands import DeviceCommands, commands_context
from control_api.panel.device_forms import (
    DeviceForm,
    changes_to_save,
    check_device_form,
    device_form,
    read_device_form,
    timezone_names,
)
from control_api.panel.director import Director
from control_api.panel.forms import query_text, read_form, signed_in
from control_api.panel.sign_in import secure_request
from control_api.panel.templates import Pages
from control_api.services import assets, devices, playlists, plays, schedule_preview
from control_api.services.devices import DeviceFilter, DeviceOrder

PAGE_SIZE = 50
RECENT_PLAYS = 20
STATES = {
    "online": DeviceFilter(online=True),
    "offline": DeviceFilter(online=False, seen=True),
    "never": DeviceFilter(seen=False),
}
SORTS: dict[str, str] = {"name": "Name", "last_seen": "Last seen", "state": "State"}
MAX_CURSOR_CHARS = 500
# ?done= after a redirect: fixed messages only (a link must not put words on the page).
NOTICES = {
    "decommissioned": "The device was decommissioned; its token no longer works.",
    "override": "The override was started.",
    "cleared": "The override was cleared.",
}
DEVICE_NOTICES = {
    "saved": "Saved.",
    "command": "The command was sent.",
    "override": "The override was started.",
    "cleared": "The override was cleared.",
}


@dataclass(frozen=True)
class TableQuery:
    """``GET /devices?group=&state=&q=&sort=&after=``, checked."""

    group: str = ""
    state: str = ""
    name: str = ""
    sort: str = "name"
    after: str = ""

    def url(self, **changes: str) -> str:
        values = {
            "group": self.group,
            "state": self.state,
            "q": self.name,
            "sort": self.sort,
            "after": self.after,
        } | changes
        kept = {k: v for k, v in values.items() if v and not (k == "sort" and v == "name")}
        return "/devices" + (f"?{urlencode(kept)}" if kept else "")


def table_query(req: falcon.Request) -> TableQuery:
    query = TableQuery(
        group=query_text(req, "group", MAX_GROUP_CHARS),
        state=query_text(req, "state", 10),
        name=query_text(req, "q", MAX_NAME_CHARS),
        sort=query_text(req, "sort", 10) or "name",
        after=query_text(req, "after", MAX_CURSOR_CHARS),
    )
    if query.state and query.state not in STATES:
        raise InvalidField("state", "must be online, offline or never")
    if query.sort not in SORTS:
        raise InvalidField("sort", "must be name, last_seen or state")
    return query


class DevicesPage:
    """``GET /devices``: every device of the tenant, filtered, sorted, paged.
    ``POST`` (editor): a new device, then its page with its one-time enrollment code."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages, device_page: DevicePage) -> None:
        self.deps, self.pages, self.device_page = deps, pages, device_page

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, notice=NOTICES.get(query_text(req, "done", 20), ""))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = read_device_form(read_form(req, self.deps.settings.max_json_bytes))
        checked = check_device_form(form)
        if not checked:
            self.render(req, resp, status=falcon.HTTP_422, add=form)
            return
        now, ttl_s = self.deps.now(), self.deps.settings.enrollment_code_ttl_s
        registered = devices.register_device(
            self.deps.db,
            signed_in(req).tenant_id,
            checked["name"],
            checked["timezone"],
            checked["groups"],
            now=now,
            code_ttl_s=ttl_s,
        )
        device_id = registered.device.id
        # The code is shown once, here: it never goes into a URL to redirect to.
        resp.location = f"/devices/{device_id}"
        self.device_page.render(
            req,
            resp,
            device_id,
            status=falcon.HTTP_201,
            code=shown_code(req, self.deps, registered.enrollment_code, first=True),
            notice="The device was added: enroll the box with this code.",
            replace_url=f"/devices/{device_id}",  # a reload reads the page, never adds again
        )

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        *,
        status: str = falcon.HTTP_200,
        add: DeviceForm | None = None,
        **extra: Any,
    ) -> None:
        director = signed_in(req)
        query = table_query(req)
        now = self.deps.now()
        page = self._page(director, query, now)
        rows = [
            views.device_row(d, now, self.deps.settings.telemetry_interval_s) for d in page.items
        ]
        titles = assets.asset_titles(
            self.deps.db, director.tenant_id, views.playing_asset_ids(rows)
        )
        playlist_names = playlists.playlist_names(
            self.deps.db, director.tenant_id, views.playing_playlist_ids(rows)
        )
        # An htmx filter change swaps the table only; a history restore asks for the page.
        partial = (
            req.get_header("HX-Request") == "true"
            and req.get_header("HX-History-Restore-Request") != "true"
        )
        resp.vary = ["HX-Request"]
        context = {
            "query": query,
            "rows": rows,
            "titles": titles,
            "playlist_names": playlist_names,
            "now": now,
            "next": page.next,
            "sorts": SORTS,
            "views": views,
            "notice": "",
            "may_change": director.may("editor"),
            "add": add or DeviceForm(),
            "timezones": timezone_names(),
        }
        context |= device_alerts.fleet_context(
            self.deps, director.tenant_id, [r.id for r in rows], with_box=not partial
        )
        if not partial:  # the Alerts and Overrides boxes are above the table
            context |= override_section.fleet_context(
                self.deps, director.tenant_id, may_change=director.may("editor")
            )
        template = "devices_table.html" if partial else "devices.html"
        self.pages.render(req, resp, template, context | extra, status=status)

    def _page(self, director: Director, query: TableQuery, now: datetime) -> Any:
        state = STATES.get(query.state, DeviceFilter())
        only = DeviceFilter(
            group=query.group or None,
            online=state.online,
            seen=state.seen,
            name_contains=query.name or None,
        )
        return devices.list_devices(
            self.deps.db,
            director.tenant_id,
            PAGE_SIZE,
            query.after or None,
            now=now,
            telemetry_interval_s=self.deps.settings.telemetry_interval_s,
            only=only,
            order=cast(DeviceOrder, query.sort),
        )


def _at_param(req: falcon.Request, timezone: str, now: datetime) -> tuple[datetime, str]:
    """``?at=YYYY-MM-DDTHH:MM`` (the device's local time; default now) as an instant."""
    raw = query_text(req, "at", 32)
    zone = ZoneInfo(timezone)
    if not raw:
        local = now.astimezone(zone).replace(second=0, microsecond=0)
        return local, local.strftime("%Y-%m-%dT%H:%M")
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidField("at", "must be a local date and time, YYYY-MM-DDTHH:MM") from None
    if local.tzinfo is not None:
        raise InvalidField("at", "is a local time in the device's zone: give it without an offset")
    return local.replace(tzinfo=zone), raw


class DevicePage:
    """``GET /devices/{id}``: status, presence and alerts, commands, overrides, plays,
    scope, what plays at a time, the week.
    Another tenant's device, or none, is the 404 page (``NotFound`` from the service)."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        notice = DEVICE_NOTICES.get(query_text(req, "done", 20), "")
        self.render(req, resp, device_id, notice=notice)

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        """The edit form (editor): name, groups, time zone; nothing stored on a refusal."""
        tenant = signed_in(req).tenant_id
        fields = read_form(req, self.deps.settings.max_json_bytes)
        stored = devices.get_device(self.deps.db, tenant, device_id)  # another tenant's: 404
        form = read_device_form(fields)
        checked = check_device_form(form)
        if not checked:
            self.render(req, resp, device_id, status=falcon.HTTP_422, edit=form)
            return
        changes = changes_to_save(form, checked, device_form(stored))
        if form.errors:
            self.render(req, resp, device_id, status=falcon.HTTP_409, edit=form)
            return
        if changes:
            devices.edit_device(
                self.deps.db,
                tenant,
                device_id,
                changes,
                now=self.deps.now(),
                keep_revisions=self.deps.settings.changelog_horizon_revisions,
            )
        resp.status = falcon.HTTP_303
        resp.location = f"/devices/{device_id}?done=saved"

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        device_id: str,
        *,
        status: str = falcon.HTTP_200,
        **extra: Any,
    ) -> None:
        director = signed_in(req)
        db, now, tenant = self.deps.db, self.deps.now(), director.tenant_id
        device = devices.get_device(db, tenant, device_id)
        row = views.device_row(device, now, self.deps.settings.telemetry_interval_s)
        at, at_text = _at_param(req, device.timezone, now)
        first_day = at.date() - timedelta(days=at.date().weekday())  # the week's Monday
        start = views.week_start(first_day, device.timezone)
        end = views.week_start(first_day + timedelta(days=7), device.timezone)
        preview = schedule_preview.preview(db, tenant, device_id, at=at, start=start, end=end)
        recent = plays.recent_plays(db, tenant, device_id, RECENT_PLAYS)
        titles = assets.asset_titles(
            db, tenant, {p.asset_id for p in recent} | views.playing_asset_ids([row])
        )
        context = {
            "device": device,
            "row": row,
            "now": now,
            "views": views,
            "titles": titles,
            "plays": recent,
            "at_text": at_text,
            "decision": preview.decision,
            "playlist_names": preview.playlist_names,
            "decision_title": preview.asset_titles.get(preview.decision.asset_id or ""),
            "week": views.week_view(
                preview.segments, first_day, device.timezone, preview.playlist_names
            ),
            "today": now.astimezone(ZoneInfo(device.timezone)).date(),
            "may_change": director.may("editor"),
            "code": None,
            "confirm": False,
            "refusal": None,
            "hardware": views.hardware_facts(device.hardware),
            "notice": "",
            "edit": device_form(device),
            "timezones": timezone_names(),
            "command_form": CommandForm(),
        }
        context |= device_alerts.device_context(self.deps, tenant, device, row)
        context |= commands_context(self.deps, tenant, device_id)
        context |= override_section.device_context(
            self.deps, tenant, device, may_change=director.may("editor")
        )
        self.pages.render(req, resp, "device.html", context | extra, status=status)


def enrollment_api_url(req: falcon.Request, deps: Deps) -> str:
    """The API's address in the box's enroll command: ``LOMUZ_PUBLIC_URL`` when set, else
    the one this request came to (``https`` when a trusted proxy says so)."""
    if deps.settings.public_url:
        return deps.settings.public_url
    if req.scheme == "http" and secure_request(req, deps):
        return "https" + req.prefix.removeprefix("http")
    return str(req.prefix)


def shown_code(
    req: falcon.Request, deps: Deps, code: str, *, first: bool = False
) -> dict[str, Any]:
    """What the device page shows of a new enrollment code (once); ``first``: the code
    of a device just added (no token was revoked)."""
    ttl_s = deps.settings.enrollment_code_ttl_s
    return {
        "grouped": code,
        "svg": qr_svg(code),
        "api_url": enrollment_api_url(req, deps),
        "expires_at": deps.now() + timedelta(seconds=ttl_s),
        "symbols": enrollment_codes.SYMBOLS,
        "first": first,
    }


def qr_svg(text: str) -> str:
    """``text`` as an inline SVG QR code (no style attribute: the CSP allows none)."""
    code = segno.make(text, error="m")
    return str(
        code.svg_inline(scale=5, border=4, svgclass="qr", title="QR code of the enrollment code")
    )


class EnrollmentCodeAction:
    """``POST /devices/{id}/enrollment-code`` (editor): a new one-time code, shown once;
    the device's current token stops working."""

    auth = "session"

    def __init__(self, deps: Deps, page: DevicePage, revocation: devices.TokenRevocation) -> None:
        self.deps, self.page, self.revocation = deps, page, revocation

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        code = devices.new_enrollment_code(
            self.deps.db,
            signed_in(req).tenant_id,
            device_id,
            now=self.deps.now(),
            code_ttl_s=self.deps.settings.enrollment_code_ttl_s,
            revocation=self.revocation,
        )
        self.page.render(req, resp, device_id, code=shown_code(req, self.deps, code))


class DecommissionAction:
    """``POST /devices/{id}/decommission`` (editor): without ``confirm=yes`` the page asks
    first; with it the device goes (its token at once) and /devices says so."""

    auth = "session"

    def __init__(self, deps: Deps, page: DevicePage, revocation: devices.TokenRevocation) -> None:
        self.deps, self.page, self.revocation = deps, page, revocation

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        if read_form(req, self.deps.settings.max_json_bytes).get("confirm") != "yes":
            self.page.render(req, resp, device_id, confirm=True)
            return
        tenant = signed_in(req).tenant_id
        try:
            devices.decommission_device(
                self.deps.db, tenant, device_id, self.revocation, now=self.deps.now()
            )
        except Conflict as busy:
            self.page.render(req, resp, device_id, status=falcon.HTTP_409, refusal=busy.message)
            return
        resp.status = falcon.HTTP_303
        resp.location = "/devices?done=decommissioned"


def add_device_routes(
    app: Any, deps: Deps, pages: Pages, revocation: devices.TokenRevocation
) -> None:
    page = DevicePage(deps, pages)
    fleet = DevicesPage(deps, pages, page)
    app.add_route("/devices", fleet)
    app.add_route("/devices/{device_id}", page)
    app.add_route(
        "/devices/{device_id}/enrollment-code", EnrollmentCodeAction(deps, page, revocation)
    )
    app.add_route("/devices/{device_id}/decommission", DecommissionAction(deps, page, revocation))
    app.add_route("/devices/{device_id}/commands", DeviceCommands(deps, pages, page.render))
    app.add_route("/overrides", override_section.StartOverride(deps, page.render, fleet.render))
    app.add_route(
        "/overrides/{override_id}/clear",
        override_section.ClearOverride(deps, page.render, fleet.render),
    )
