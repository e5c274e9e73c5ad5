"""The panel's Devices section: the fleet table, a device's page, a new
enrollment code, decommissioning. Each handler parses the query or form, calls
the use cases the JSON API calls, and renders."""

from __future__ import annotations

from collections.abc import Callable
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
from control_api.errors import Conflict, InvalidField, NotFound, PermissionDenied
from control_api.panel import device_views as views
from control_api.panel.access import director_or_login, require
from control_api.panel.director import Director
from control_api.panel.templates import Pages
from control_api.services import assets, devices, plays, schedule_preview
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
NOTICES = {"decommissioned": "The device was decommissioned; its token no longer works."}


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


def _text(req: falcon.Request, name: str, max_chars: int) -> str:
    value = req.params.get(name, "")
    if not isinstance(value, str):
        raise InvalidField(name, "given more than once")
    if len(value) > max_chars or "\x00" in value:
        raise InvalidField(name, f"must be at most {max_chars} characters of text")
    return value.strip()


def table_query(req: falcon.Request) -> TableQuery:
    query = TableQuery(
        group=_text(req, "group", MAX_GROUP_CHARS),
        state=_text(req, "state", 10),
        name=_text(req, "q", MAX_NAME_CHARS),
        sort=_text(req, "sort", 10) or "name",
        after=_text(req, "after", MAX_CURSOR_CHARS),
    )
    if query.state and query.state not in STATES:
        raise InvalidField("state", "must be online, offline or never")
    if query.sort not in SORTS:
        raise InvalidField("sort", "must be name, last_seen or state")
    return query


def _error_page(
    pages: Pages, req: falcon.Request, resp: falcon.Response, *, status: str, message: str
) -> None:
    titles = {
        falcon.HTTP_400: "Not understood",
        falcon.HTTP_403: "Not allowed",
        falcon.HTTP_404: "No such device",
    }
    context = {"title": titles.get(status, "Devices"), "message": message}
    pages.render(req, resp, "error.html", context, status=status)


NO_DEVICE = "There is no such device in your organisation."


class DevicesPage:
    """``GET /devices``: every device of the tenant, filtered, sorted, paged."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        director = director_or_login(req, resp)
        if director is None:
            return
        try:
            query = table_query(req)
            page = self._page(director, query)
        except InvalidField as bad:
            _error_page(self.pages, req, resp, status=falcon.HTTP_400, message=str(bad))
            return
        now = self.deps.now()
        rows = [
            views.device_row(d, now, self.deps.settings.telemetry_interval_s) for d in page.items
        ]
        titles = assets.asset_titles(
            self.deps.db, director.tenant_id, views.playing_asset_ids(rows)
        )
        # An htmx filter change swaps the table only; history restores ask for the page.
        partial = (
            req.get_header("HX-Request") == "true"
            and req.get_header("HX-History-Restore-Request") != "true"
        )
        resp.vary = ["HX-Request"]
        self.pages.render(
            req,
            resp,
            "devices_table.html" if partial else "devices.html",
            {
                "query": query,
                "rows": rows,
                "titles": titles,
                "now": now,
                "next": page.next,
                "sorts": SORTS,
                "views": views,
                "notice": NOTICES.get(_text(req, "done", 20), ""),
            },
        )

    def _page(self, director: Director, query: TableQuery) -> Any:
        only = STATES.get(query.state, DeviceFilter())
        only = DeviceFilter(
            group=query.group or None,
            online=only.online,
            seen=only.seen,
            name_contains=query.name or None,
        )
        return devices.list_devices(
            self.deps.db,
            director.tenant_id,
            PAGE_SIZE,
            query.after or None,
            now=self.deps.now(),
            telemetry_interval_s=self.deps.settings.telemetry_interval_s,
            only=only,
            order=cast(DeviceOrder, query.sort),
        )


def _at_param(req: falcon.Request, timezone: str, now: datetime) -> tuple[datetime, str]:
    """``?at=YYYY-MM-DDTHH:MM`` (the device's local time; default now) as an instant."""
    raw = _text(req, "at", 32)
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
    """``GET /devices/{id}``: status, plays, scope, what plays at a time, the week."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        director = director_or_login(req, resp)
        if director is None:
            return
        try:
            context = self._context(req, director, device_id)
        except NotFound:
            _error_page(self.pages, req, resp, status=falcon.HTTP_404, message=NO_DEVICE)
            return
        except InvalidField as bad:
            _error_page(self.pages, req, resp, status=falcon.HTTP_400, message=str(bad))
            return
        self.pages.render(req, resp, "device.html", context)

    def _context(
        self, req: falcon.Request, director: Director, device_id: str, **extra: Any
    ) -> dict[str, Any]:
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
        return {
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
            "hardware": device.hardware if isinstance(device.hardware, dict) else {},
        } | extra

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        director: Director,
        device_id: str,
        status: str = falcon.HTTP_200,
        **extra: Any,
    ) -> None:
        try:
            context = self._context(req, director, device_id, **extra)
        except NotFound:
            _error_page(self.pages, req, resp, status=falcon.HTTP_404, message=NO_DEVICE)
            return
        self.pages.render(req, resp, "device.html", context, status=status)


def _form(req: falcon.Request) -> dict[str, str]:
    media = req.get_media(default_when_empty={})
    if not isinstance(media, dict):
        return {}
    return {k: v for k, v in media.items() if isinstance(k, str) and isinstance(v, str)}


def qr_svg(text: str) -> str:
    """``text`` as an inline SVG QR code (no style attribute: the CSP allows none)."""
    return str(
        segno.make(text, error="m").svg_inline(
            scale=5, border=4, svgclass="qr", title="QR code of the enrollment code"
        )
    )


class DeviceAction:
    """``POST /devices/{id}/enrollment-code`` and ``POST /devices/{id}/decommission``
    (editor; the decommission asks to confirm first)."""

    auth = "session"

    def __init__(
        self, deps: Deps, pages: Pages, page: DevicePage, forget_device: Callable[[str], None]
    ) -> None:
        self.deps, self.pages, self.page, self.forget_device = deps, pages, page, forget_device

    def on_post_code(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        director = self._allowed(req, resp)
        if director is None:
            return
        try:
            code = devices.new_enrollment_code(
                self.deps.db,
                director.tenant_id,
                device_id,
                now=self.deps.now(),
                code_ttl_s=self.deps.settings.enrollment_code_ttl_s,
                forget_token=self.forget_device,
            )
        except NotFound:
            _error_page(self.pages, req, resp, status=falcon.HTTP_404, message=NO_DEVICE)
            return
        expires_at = self.deps.now() + timedelta(seconds=self.deps.settings.enrollment_code_ttl_s)
        self.page.render(
            req,
            resp,
            director,
            device_id,
            code={
                "grouped": code,
                "svg": qr_svg(code),
                "api_url": req.prefix,
                "expires_at": expires_at,
                "symbols": enrollment_codes.SYMBOLS,
            },
        )

    def on_post_decommission(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        director = self._allowed(req, resp)
        if director is None:
            return
        if _form(req).get("confirm") != "yes":
            self.page.render(req, resp, director, device_id, confirm=True)
            return
        try:
            devices.decommission_device(
                self.deps.db, director.tenant_id, device_id, self.forget_device
            )
        except NotFound:
            _error_page(self.pages, req, resp, status=falcon.HTTP_404, message=NO_DEVICE)
            return
        except Conflict as busy:
            self.page.render(
                req, resp, director, device_id, status=falcon.HTTP_409, refusal=str(busy)
            )
            return
        resp.status = falcon.HTTP_303
        resp.location = "/devices?done=decommissioned"

    def _allowed(self, req: falcon.Request, resp: falcon.Response) -> Director | None:
        director = director_or_login(req, resp)
        if director is None:
            return None
        try:
            require(director, "editor", _form(req), req.get_header("X-CSRF-Token"))
        except PermissionDenied as refused:
            _error_page(self.pages, req, resp, status=falcon.HTTP_403, message=str(refused))
            return None
        return director


def add_device_routes(
    app: Any, deps: Deps, pages: Pages, forget_device: Callable[[str], None]
) -> None:
    page = DevicePage(deps, pages)
    action = DeviceAction(deps, pages, page, forget_device)
    app.add_route("/devices", DevicesPage(deps, pages))
    app.add_route("/devices/{device_id}", page)
    app.add_route("/devices/{device_id}/enrollment-code", action, suffix="code")
    app.add_route("/devices/{device_id}/decommission", action, suffix="decommission")
