"""The panel's Schedules section: the list and its form, a schedule's edit page,
deleting, the playlist picker's suggestions, and the week of a device or a group
(which playlist wins when).

The form's playlist is a text field with suggestions (``<datalist>``): without
JavaScript it offers the first ``CHOICES`` playlists by name and takes any
playlist's name or id typed in; with htmx the suggestions follow what is typed
(``GET /schedules/playlists``, any of the tenant's playlists). The typed value
must name exactly one playlist of the tenant (``services.playlists.resolve_playlist``).

Each handler parses the query or form, calls the schedules use cases the JSON
API calls (``services/schedules.py``, ``services/schedule_preview.py``), and renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import falcon

from control_api.core.validation import MAX_GROUP_CHARS, MAX_NAME_CHARS
from control_api.deps import Deps
from control_api.errors import InvalidField, VersionMismatch
from control_api.panel import device_views
from control_api.panel import schedule_views as views
from control_api.panel.forms import query_text, read_form, signed_in
from control_api.panel.templates import Pages
from control_api.services import devices, playlists, schedule_preview, schedules
from control_api.services.schedules import ScheduleFields

PAGE_SIZE = 50
CHOICES = 500  # playlists, devices and groups a form offers
SUGGESTIONS = 50  # playlists the picker suggests for what is typed
MAX_CURSOR_CHARS = 500
CONFLICT = "Changed by someone else — reload"
NOTICES = {
    "created": "The schedule was created.",
    "saved": "The schedule was saved.",
    "deleted": "The schedule was deleted.",
}


class _Section:
    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def render_form(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        form: views.ScheduleForm,
        *,
        schedule_id: str | None = None,
        status: str = falcon.HTTP_200,
    ) -> None:
        """The edit page of ``schedule_id``, or the list with ``form`` as its new schedule."""
        director = signed_in(req)
        tenant = director.tenant_id
        may_change = director.may("editor")
        context: dict[str, Any] = {
            "form": form,
            "playlist_name": self._playlist_name(tenant, form) if may_change else "",
            # A viewer gets no form, so nothing to choose from.
            "choices": schedules.form_choices(self.deps.db, tenant, CHOICES)
            if may_change
            else None,
            "views": views,
            "may_change": may_change,
            "schedule_id": schedule_id,
            "conflict": CONFLICT if form.errors.get("version") else "",
        }
        if schedule_id is not None:
            self.pages.render(req, resp, "schedule.html", context, status=status)
            return
        after = query_text(req, "after", MAX_CURSOR_CHARS)
        listing = schedules.list_schedules_named(self.deps.db, tenant, PAGE_SIZE, after or None)
        context |= {
            "listing": listing,
            "after": after,
            "notice": NOTICES.get(query_text(req, "done", 20), ""),
        }
        self.pages.render(req, resp, "schedules.html", context, status=status)

    def _playlist_name(self, tenant_id: str, form: views.ScheduleForm) -> str:
        """The name of the playlist the form holds, when it holds one (shown by the field)."""
        if not form.playlist_id or "playlist_id" in form.errors:
            return ""
        try:
            return playlists.resolve_playlist(self.deps.db, tenant_id, form.playlist_id)[1]
        except InvalidField:
            return ""

    def save(
        self, req: falcon.Request, resp: falcon.Response, schedule_id: str | None = None
    ) -> None:
        form = views.read(read_form(req, self.deps.settings.max_json_bytes))
        if form.playlist_id:  # empty: the checks below say "must not be empty"
            try:
                form.playlist_id = playlists.resolve_playlist(
                    self.deps.db, signed_in(req).tenant_id, form.playlist_id
                )[0]
            except InvalidField as refusal:
                form.refuse(refusal)
        fields = views.fields_of(form)
        if fields is not None:
            try:
                self._store(req, fields, form, schedule_id)
            except InvalidField as refusal:
                form.refuse(refusal)
            except VersionMismatch:
                form.errors["version"] = CONFLICT
                self.render_form(req, resp, form, schedule_id=schedule_id, status=falcon.HTTP_409)
                return
        if form.errors:
            self.render_form(req, resp, form, schedule_id=schedule_id, status=falcon.HTTP_422)
            return
        resp.status = falcon.HTTP_303
        resp.location = f"/schedules?done={'saved' if schedule_id else 'created'}"

    def _store(
        self,
        req: falcon.Request,
        fields: ScheduleFields,
        form: views.ScheduleForm,
        schedule_id: str | None,
    ) -> None:
        tenant, now = signed_in(req).tenant_id, self.deps.now()
        keep = self.deps.settings.changelog_horizon_revisions
        if schedule_id is None:
            schedules.create_schedule(self.deps.db, tenant, fields, now, keep)
            return
        schedules.replace_schedule(
            self.deps.db,
            tenant,
            schedule_id,
            fields,
            # The version the form was opened at: a save over a newer one is refused.
            if_match=form.version or "0",
            now=now,
            keep_revisions=keep,
        )


class SchedulesPage(_Section):
    """``GET /schedules``: the tenant's schedules (keyset pages) and the new-schedule
    form; ``POST /schedules`` (editor) creates one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render_form(req, resp, views.ScheduleForm())

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.save(req, resp)


class SchedulePage(_Section):
    """``GET /schedules/{id}``: its form; ``POST`` (editor) replaces it at the version
    the form was opened at. Another tenant's schedule, or none, is the 404 page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        schedule = schedules.get_schedule(self.deps.db, signed_in(req).tenant_id, schedule_id)
        self.render_form(req, resp, views.of_schedule(schedule), schedule_id=schedule.id)

    def on_post(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        schedules.get_schedule(self.deps.db, signed_in(req).tenant_id, schedule_id)  # or 404
        self.save(req, resp, schedule_id)


class DeleteSchedule(_Section):
    """``POST /schedules/{id}/delete`` (editor), at the version the page showed."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        tenant = signed_in(req).tenant_id
        version = read_form(req, self.deps.settings.max_json_bytes).get("version", "")[:12]
        try:
            schedules.delete_schedule(
                self.deps.db,
                tenant,
                schedule_id,
                if_match=version or "0",
                keep_revisions=self.deps.settings.changelog_horizon_revisions,
            )
        except VersionMismatch:
            schedule = schedules.get_schedule(self.deps.db, tenant, schedule_id)
            form = views.of_schedule(schedule)
            form.errors["version"] = CONFLICT
            self.render_form(req, resp, form, schedule_id=schedule_id, status=falcon.HTTP_409)
            return
        resp.status = falcon.HTTP_303
        resp.location = "/schedules?done=deleted"


class PlaylistSuggestions(_Section):
    """``GET /schedules/playlists?playlist_id=<typed>``: the picker's ``<option>``s, the
    first ``SUGGESTIONS`` playlists by name that the typed text names part of (or the
    id of); htmx swaps them into the form's ``<datalist>``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        typed = query_text(req, "playlist_id", MAX_NAME_CHARS)
        found = playlists.playlist_choices(
            self.deps.db, signed_in(req).tenant_id, SUGGESTIONS, text=typed or None
        )
        self.pages.render(req, resp, "schedule_playlist_options.html", {"suggested": found.items})


@dataclass(frozen=True)
class WeekQuery:
    """``GET /schedules/week?device=<id>|group=<name>&week=YYYY-MM-DD``, checked."""

    device: str
    group: str
    week: str

    def url(self, first_day: date) -> str:
        scope = {"device": self.device} if self.device else {"group": self.group}
        return "/schedules/week?" + urlencode(scope | {"week": first_day.isoformat()})


def week_query(req: falcon.Request) -> WeekQuery:
    query = WeekQuery(
        device=query_text(req, "device", MAX_NAME_CHARS),
        group=query_text(req, "group", MAX_GROUP_CHARS),
        week=query_text(req, "week", 10),
    )
    if query.device and query.group:
        raise InvalidField("group", "give a device or a group, not both")
    return query


def _week_of(query: WeekQuery) -> date | None:
    """``?week=``: any day of the week to show (None: this week)."""
    if not query.week:
        return None
    try:
        day = date.fromisoformat(query.week)
    except ValueError:
        raise InvalidField("week", "must be a date, YYYY-MM-DD") from None
    if not 1 < day.year < 9999:
        raise InvalidField("week", "must be a date between the years 2 and 9998")
    return day


class WeekPage(_Section):
    """``GET /schedules/week``: which playlist wins when, hour by day, for a device (its
    own rules) or a group (a device in that group only, in its first device's zone)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        director, now = signed_in(req), self.deps.now()
        db, tenant = self.deps.db, director.tenant_id
        query = week_query(req)
        context: dict[str, Any] = {"query": query, "choices": None, "scope": None}
        if query.device:
            device = devices.get_device(db, tenant, query.device)
            first_day = schedule_preview.monday(_week_of(query), device.timezone, now)
            start = device_views.week_start(first_day, device.timezone)
            end = device_views.week_start(first_day + timedelta(days=7), device.timezone)
            seen = schedule_preview.preview(db, tenant, device.id, at=start, start=start, end=end)
            segments, names, timezone = seen.segments, seen.playlist_names, device.timezone
            context["scope"] = {"kind": "device", "name": device.name, "id": device.id}
        elif query.group:
            week = schedule_preview.group_week(
                db, tenant, query.group, week_of=_week_of(query), now=now
            )
            segments, names, timezone = week.segments, week.playlist_names, week.timezone
            first_day = week.first_day
            context["scope"] = {
                "kind": "group",
                "name": query.group,
                "timezone_device_id": week.timezone_device_id,
            }
        else:
            context["choices"] = schedules.form_choices(db, tenant, CHOICES)
            self.pages.render(req, resp, "schedules_week.html", context)
            return
        context |= {
            "week": device_views.week_view(segments, first_day, timezone, names),
            "timezone": timezone,
            "today": now.astimezone(ZoneInfo(timezone)).date(),
            "previous_url": query.url(first_day - timedelta(days=7)),
            "next_url": query.url(first_day + timedelta(days=7)),
            "playlists": sorted(set(names.values())),
        }
        self.pages.render(req, resp, "schedules_week.html", context)


def add_schedule_routes(app: Any, deps: Deps, pages: Pages) -> None:
    app.add_route("/schedules", SchedulesPage(deps, pages))
    app.add_route("/schedules/week", WeekPage(deps, pages))
    app.add_route("/schedules/playlists", PlaylistSuggestions(deps, pages))
    app.add_route("/schedules/{schedule_id}", SchedulePage(deps, pages))
    app.add_route("/schedules/{schedule_id}/delete", DeleteSchedule(deps, pages))
