"""Overrides in the panel: the active ones on a device's page (those that reach it) and
on the fleet page (the tenant's), the "Play now" form that starts one, and Clear.

``POST /overrides`` and ``POST /overrides/{id}/clear`` (editor) call the overrides
use cases the JSON API calls. A form sent from a device's page says so
(``from_device``): it goes back there, its times are the device's local time, and a
refusal is shown in the form on that page; else the fleet page's, in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import falcon

from control_api.deps import Deps
from control_api.errors import InvalidField, NotFound
from control_api.panel import override_views as views
from control_api.panel.forms import form_text, read_form, signed_in
from control_api.services import devices, overrides, playlists, schedules

SHOWN = 50  # overrides a list shows
CHOICES = 500  # playlists and groups the form offers (the picker searches the rest)
FLEET_TIMEZONE = "UTC"


def _form_choices(deps: Deps, tenant_id: str, may_change: bool) -> Any:
    return schedules.form_choices(deps.db, tenant_id, CHOICES) if may_change else None


def device_context(deps: Deps, tenant_id: str, device: Any, *, may_change: bool) -> dict[str, Any]:
    """The device page's Overrides section: those reaching it, and the "Play now" form."""
    listing = overrides.active_for_device(deps.db, tenant_id, device.id, deps.now(), SHOWN)
    return {
        "overrides": views.override_rows(
            listing.items, listing.playlist_names, listing.device_names
        ),
        "overrides_more": listing.more,
        "override_form": views.OverrideForm(target="device", device_id=device.id),
        "override_choices": _form_choices(deps, tenant_id, may_change),
        "override_views": views,
    }


def fleet_context(deps: Deps, tenant_id: str, *, may_change: bool) -> dict[str, Any]:
    """The fleet page's Overrides box: the tenant's active ones, and the form."""
    listing = overrides.active_named(deps.db, tenant_id, deps.now(), SHOWN)
    return {
        "overrides": views.override_rows(
            listing.items, listing.playlist_names, listing.device_names
        ),
        "overrides_more": listing.more,
        "override_form": views.OverrideForm(),
        "override_choices": _form_choices(deps, tenant_id, may_change),
        "override_views": views,
    }


class _Action:
    auth = "session"

    def __init__(
        self,
        deps: Deps,
        render_device_page: Callable[..., None],
        render_fleet_page: Callable[..., None],
    ) -> None:
        self.deps = deps
        self.render_device_page, self.render_fleet_page = render_device_page, render_fleet_page

    def _from_device(self, req: falcon.Request) -> Any:
        """The device whose page sent the form (NotFound: not the tenant's), or None."""
        fields = read_form(req, self.deps.settings.max_json_bytes)
        device_id = form_text(fields, "from_device", 100)
        if not device_id:
            return None
        if "\x00" in device_id:  # no id holds one (and PostgreSQL refuses it in text)
            raise NotFound("no such device")
        return devices.get_device(self.deps.db, signed_in(req).tenant_id, device_id)

    def _back(self, resp: falcon.Response, device: Any, done: str) -> None:
        resp.status = falcon.HTTP_303
        page = "/devices" if device is None else f"/devices/{device.id}"
        resp.location = f"{page}?done={done}#overrides"


class StartOverride(_Action):
    """``POST /overrides`` ``playlist_id=&target=&device_id=&group=&until=&until_at=``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        tenant = signed_in(req).tenant_id
        device = self._from_device(req)
        form = views.read(read_form(req, self.deps.settings.max_json_bytes))
        timezone = FLEET_TIMEZONE if device is None else device.timezone
        playlist_id = ""  # the playlist the typed id or name names (the form keeps the text)
        if form.playlist_id:  # empty: the checks below say "must not be empty"
            try:
                playlist_id = playlists.resolve_playlist(self.deps.db, tenant, form.playlist_id)[0]
            except InvalidField as refusal:
                form.refuse(refusal)
        now = self.deps.now()
        fields = views.fields_of(form, now, timezone)
        if fields is not None:
            fields = replace(fields, playlist_id=playlist_id)
            try:
                overrides.create_override(
                    self.deps.db,
                    tenant,
                    fields,
                    now=now,
                    keep_revisions=self.deps.settings.changelog_horizon_revisions,
                )
            except InvalidField as refusal:
                form.refuse(refusal)
        if form.errors:
            if device is None:
                self.render_fleet_page(req, resp, status=falcon.HTTP_422, override_form=form)
            else:
                self.render_device_page(
                    req, resp, device.id, status=falcon.HTTP_422, override_form=form
                )
            return
        self._back(resp, device, "override")


class ClearOverride(_Action):
    """``POST /overrides/{id}/clear``: the override ends now (NotFound: not the tenant's)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, override_id: str) -> None:
        device = self._from_device(req)
        overrides.delete_override(
            self.deps.db,
            signed_in(req).tenant_id,
            override_id,
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        self._back(resp, device, "cleared")
