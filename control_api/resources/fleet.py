"""Director endpoints for devices, schedules and proof of play (admin token)."""

from __future__ import annotations

import falcon

from control_api import http, wire
from control_api.core.validation import MAX_GROUP_CHARS, MAX_NAME_CHARS
from control_api.deps import Deps
from control_api.resources import bodies
from control_api.services import devices, plays, presence, schedules


class Devices:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ("limit", "after", "group", "online", "q"))
        limit, after = http.page_params(req)
        only = devices.DeviceFilter(
            group=http.str_param(req, "group", MAX_GROUP_CHARS),
            online=http.bool_param(req, "online"),
            name_contains=http.str_param(req, "q", MAX_NAME_CHARS),
        )
        now, interval_s = self.deps.now(), self.deps.settings.telemetry_interval_s
        page = devices.list_devices(
            self.deps.db,
            req.context.principal.tenant_id,
            limit,
            after,
            now=now,
            telemetry_interval_s=interval_s,
            only=only,
        )
        http.send(resp, wire.devices_page(page.items, page.next, now, interval_s))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        name, timezone, groups = bodies.new_device(
            http.read_json(req, self.deps.settings.max_json_bytes)
        )
        now = self.deps.now()
        registered = devices.register_device(
            self.deps.db,
            req.context.principal.tenant_id,
            name,
            timezone,
            groups,
            now=now,
            code_ttl_s=self.deps.settings.enrollment_code_ttl_s,
        )
        http.created(resp, "devices", registered.device.id)
        http.send(resp, wire.registered(registered, now, self.deps.settings.telemetry_interval_s))


class DeviceItem:
    auth = "admin"

    def __init__(self, deps: Deps, revocation: devices.TokenRevocation) -> None:
        self.deps = deps
        self.revocation = revocation

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        device = devices.get_device(self.deps.db, req.context.principal.tenant_id, device_id)
        http.send(
            resp, wire.device(device, self.deps.now(), self.deps.settings.telemetry_interval_s)
        )

    def on_patch(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        changes = bodies.device_changes(http.read_json(req, self.deps.settings.max_json_bytes))
        now = self.deps.now()
        device = devices.edit_device(
            self.deps.db,
            req.context.principal.tenant_id,
            device_id,
            changes,
            now=now,
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        http.send(resp, wire.device(device, now, self.deps.settings.telemetry_interval_s))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        """Decommission; 409 ``device_scheduled`` while a schedule targets it."""
        devices.decommission_device(
            self.deps.db,
            req.context.principal.tenant_id,
            device_id,
            self.revocation,
            now=self.deps.now(),
        )
        resp.status = falcon.HTTP_204


class EnrollmentCode:
    auth = "admin"

    def __init__(self, deps: Deps, revocation: devices.TokenRevocation) -> None:
        self.deps = deps
        self.revocation = revocation

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        code = devices.new_enrollment_code(
            self.deps.db,
            req.context.principal.tenant_id,
            device_id,
            now=self.deps.now(),
            code_ttl_s=self.deps.settings.enrollment_code_ttl_s,
            revocation=self.revocation,
        )
        resp.status = falcon.HTTP_201
        http.send(resp, wire.enrollment_code(code))


class Schedules:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = http.list_params(req)
        tenant_id = req.context.principal.tenant_id
        page = schedules.list_schedules(self.deps.db, tenant_id, limit, after)
        http.send(resp, wire.schedules_page(page.items, page.next))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = bodies.schedule(http.read_json(req, self.deps.settings.max_json_bytes))
        schedule = schedules.create_schedule(
            self.deps.db,
            req.context.principal.tenant_id,
            fields,
            self.deps.now(),
            self.deps.settings.changelog_horizon_revisions,
        )
        http.created(resp, "schedules", schedule.id)
        http.set_etag(resp, schedule.version)
        http.send(resp, wire.schedule(schedule))


class ScheduleItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        schedule = schedules.get_schedule(self.deps.db, tenant_id, schedule_id)
        http.set_etag(resp, schedule.version)
        http.send(resp, wire.schedule(schedule))

    def on_put(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        schedule = schedules.replace_schedule(
            self.deps.db,
            req.context.principal.tenant_id,
            schedule_id,
            lambda: bodies.schedule(body),  # after the 404 and 412 checks
            if_match=req.get_header("If-Match"),
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        http.set_etag(resp, schedule.version)
        http.send(resp, wire.schedule(schedule))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        schedules.delete_schedule(
            self.deps.db,
            req.context.principal.tenant_id,
            schedule_id,
            if_match=req.get_header("If-Match"),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        resp.status = falcon.HTTP_204


class DevicePresence:
    """``GET /v1/devices/{id}/presence``: the device's presence transitions, newest first."""

    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        http.check_params(req, ("limit", "after"))
        limit, after = http.page_params(req)
        page = presence.list_presence_events(
            self.deps.db, req.context.principal.tenant_id, device_id, limit, after
        )
        http.send(resp, wire.presence_events_page(page.items, page.next))


class Plays:
    """Proof of play, filtered; ``Accept: text/csv`` exports every matching row."""

    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ("device_id", "asset_id", "from", "to", "limit", "after"))
        limit, after = http.page_params(req)
        filters = plays.PlayFilters(
            device_id=http.str_param(req, "device_id", 100),
            asset_id=http.str_param(req, "asset_id", 100),
            started_from=http.instant_param(req, "from"),
            started_to=http.instant_param(req, "to"),
        )
        tenant_id = req.context.principal.tenant_id
        accept = req.get_header("Accept") or ""
        if "text/csv" in accept and "application/json" not in accept:
            resp.content_type = "text/csv; charset=utf-8"
            resp.set_header("Content-Disposition", 'attachment; filename="plays.csv"')
            resp.stream = wire.plays_csv(plays.export_plays(self.deps.db, tenant_id, filters))
            return
        page = plays.list_plays(self.deps.db, tenant_id, filters, limit, after)
        http.send(resp, wire.plays_page(page.items, page.next))
