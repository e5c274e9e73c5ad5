"""Director endpoints for devices, schedules and proof of play (admin token)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import falcon
from sqlalchemy import select

from control_api import http
from control_api.core import validation as v
from control_api.core.export import csv_cell
from control_api.deps import Deps
from control_api.errors import Unprocessable
from control_api.resources.listing import respond_with_page
from control_api.store import repository as repo
from control_api.store.models import Device, Play, Playlist, Schedule


class Devices:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        now = self.deps.now()
        interval_s = self.deps.settings.telemetry_interval_s
        respond_with_page(
            self.deps, req, resp, Device,
            lambda _s, rows: [repo.device_json(d, now, interval_s) for d in rows],
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        tenant_id = req.context.principal.tenant_id
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        v.check_fields(body, ("name", "timezone", "groups"), ("name",))
        name = v.as_str(body["name"], "name")
        timezone = v.parse_timezone(body.get("timezone", "UTC"), "timezone")
        groups = v.parse_groups(body.get("groups", []), "groups")
        now = self.deps.now()
        device = Device(
            id=repo.new_id("dev"),
            tenant_id=tenant_id,
            name=name,
            timezone=timezone,
            groups=groups,
            created_at=now,
            updated_at=now,
        )
        code = repo.issue_enrollment_code(device, now, self.deps.settings.enrollment_code_ttl_s)
        with self.deps.db.write() as s:
            s.add(device)
        http.created(resp, "devices", device.id)
        resp.media = {
            **repo.device_json(device, now, self.deps.settings.telemetry_interval_s),
            "enrollment_code": code,
        }


class DeviceItem:
    auth = "admin"

    def __init__(self, deps: Deps, forget_device: Callable[[str], None]) -> None:
        self.deps = deps
        self.forget_device = forget_device  # this process's cached tokens of the device

    def on_get(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        with self.deps.db.read() as s:
            device = repo.get_device(s, req.context.principal.tenant_id, device_id)
            resp.media = repo.device_json(
                device, self.deps.now(), self.deps.settings.telemetry_interval_s
            )

    def on_patch(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        v.check_fields(body, ("name", "timezone", "groups"))
        changes: dict[str, Any] = {}
        if "name" in body:
            changes["name"] = v.as_str(body["name"], "name")
        if "timezone" in body:
            changes["timezone"] = v.parse_timezone(body["timezone"], "timezone")
        if "groups" in body:
            changes["groups"] = v.parse_groups(body["groups"], "groups")
        now = self.deps.now()
        with self.deps.db.write() as s:
            device = repo.get_device(s, tenant_id, device_id, for_update=True)
            for key, value in changes.items():
                setattr(device, key, value)
            device.updated_at = now
            # The device block of its manifest changed: its next sync must not be a 304.
            repo.record_changes(
                s,
                tenant_id,
                [("device", device.id, False)],
                self.deps.settings.changelog_horizon_revisions,
            )
            resp.media = repo.device_json(device, now, self.deps.settings.telemetry_interval_s)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        """Decommission: the row goes, its token with it; its plays stay (they carry
        the id, which is never issued again); 409 while a schedule targets it."""
        with self.deps.db.write() as s:
            repo.delete_device(s, req.context.principal.tenant_id, device_id)
        self.forget_device(device_id)
        resp.status = falcon.HTTP_204


class EnrollmentCode:
    auth = "admin"

    def __init__(self, deps: Deps, forget_device: Callable[[str], None]) -> None:
        self.deps = deps
        self.forget_device = forget_device

    def on_post(self, req: falcon.Request, resp: falcon.Response, device_id: str) -> None:
        with self.deps.db.write() as s:
            device = repo.get_device(s, req.context.principal.tenant_id, device_id, for_update=True)
            code = repo.reissue_enrollment_code(
                s, device, self.deps.now(), self.deps.settings.enrollment_code_ttl_s
            )
        self.forget_device(device_id)
        resp.status = falcon.HTTP_201
        resp.media = {"enrollment_code": code}


def parse_schedule(s: Any, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validated schedule columns; the playlist and a target device must be the tenant's."""
    v.check_fields(
        body,
        (
            "playlist_id",
            "target",
            "priority",
            "days",
            "start_time",
            "end_time",
            "valid_from",
            "valid_until",
        ),
        ("playlist_id", "target"),
    )
    playlist_id = v.as_str(body["playlist_id"], "playlist_id")
    kind, value = v.parse_target(body["target"], "target")
    out: dict[str, Any] = {
        "playlist_id": playlist_id,
        "target_kind": kind,
        "target_value": value,
        "priority": v.as_int(body.get("priority", 0), "priority"),
        "days": v.parse_days(body.get("days", [1, 2, 3, 4, 5, 6, 7]), "days"),
        "start_time": v.parse_time_of_day(
            body.get("start_time", "00:00"), "start_time", is_end=False
        ),
        "end_time": v.parse_time_of_day(body.get("end_time", "24:00"), "end_time", is_end=True),
        "valid_from": v.as_opt_instant(body.get("valid_from"), "valid_from"),
        "valid_until": v.as_opt_instant(body.get("valid_until"), "valid_until"),
    }
    if out["start_time"] == out["end_time"]:
        raise Unprocessable("end_time", "must differ from start_time")
    v.check_window(out["valid_from"], out["valid_until"], "valid_until")
    playlist = s.get(Playlist, playlist_id)
    if playlist is None or playlist.tenant_id != tenant_id:
        raise Unprocessable("playlist_id", f"no playlist {playlist_id!r}", "unknown_playlist")
    # Locked until commit: a concurrent DELETE of the device waits, then sees this schedule.
    if kind == "device" and not repo.lock_device_target(s, tenant_id, value):
        raise Unprocessable("target.device_id", f"no device {value!r}", "unknown_device")
    return out


class Schedules:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond_with_page(
            self.deps, req, resp, Schedule, lambda _s, rows: [repo.schedule_json(x) for x in rows]
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        tenant_id = req.context.principal.tenant_id
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        now = self.deps.now()
        with self.deps.db.write() as s:
            fields = parse_schedule(s, tenant_id, body)
            schedule = Schedule(
                id=repo.new_id("sch"),
                tenant_id=tenant_id,
                version=1,
                created_at=now,
                updated_at=now,
                **fields,
            )
            s.add(schedule)
            s.flush()
            repo.record_changes(
                s,
                tenant_id,
                [("schedule", schedule.id, False)],
                self.deps.settings.changelog_horizon_revisions,
            )
            resp.media = repo.schedule_json(schedule)
        http.created(resp, "schedules", schedule.id)
        http.set_etag(resp, 1)


class ScheduleItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        with self.deps.db.read() as s:
            schedule = repo.get_schedule(s, req.context.principal.tenant_id, schedule_id)
            resp.media = repo.schedule_json(schedule)
            http.set_etag(resp, schedule.version)

    def on_put(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        with self.deps.db.write() as s:
            schedule = repo.get_schedule(s, tenant_id, schedule_id, for_update=True)
            http.check_if_match(req, schedule.version)
            root_before = repo.view_root(schedule)
            for key, value in parse_schedule(s, tenant_id, body).items():
                setattr(schedule, key, value)
            schedule.version += 1
            schedule.updated_at = self.deps.now()
            repo.record_changes(
                s,
                tenant_id,
                [("schedule", schedule.id, False, root_before)],
                self.deps.settings.changelog_horizon_revisions,
            )
            resp.media = repo.schedule_json(schedule)
            http.set_etag(resp, schedule.version)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        with self.deps.db.write() as s:
            schedule = repo.get_schedule(s, tenant_id, schedule_id, for_update=True)
            http.check_if_match(req, schedule.version)
            s.delete(schedule)
            repo.record_changes(
                s,
                tenant_id,
                [("schedule", schedule_id, True, repo.view_root(schedule))],
                self.deps.settings.changelog_horizon_revisions,
            )
        resp.status = falcon.HTTP_204


class Plays:
    """Proof of play, filtered; ``Accept: text/csv`` exports every matching row."""

    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ("device_id", "asset_id", "from", "to", "limit", "after"))
        limit, after = http.page_params(req)
        filters = {
            "device_id": http.str_param(req, "device_id", 100),
            "asset_id": http.str_param(req, "asset_id", 100),
            "from": http.instant_param(req, "from"),
            "to": http.instant_param(req, "to"),
        }
        tenant_id = req.context.principal.tenant_id
        accept = req.get_header("Accept") or ""
        if "text/csv" in accept and "application/json" not in accept:
            resp.content_type = "text/csv; charset=utf-8"
            resp.set_header("Content-Disposition", 'attachment; filename="plays.csv"')
            resp.stream = self._csv(tenant_id, filters)
            return
        rows, nxt = self._page(tenant_id, filters, limit, after)
        resp.media = {"items": [repo.play_json(p) for p in rows], "next": nxt}

    def _page(
        self, tenant_id: str, filters: dict[str, Any], limit: int, after: str | None
    ) -> tuple[list[Play], str | None]:
        stmt = select(Play).where(Play.tenant_id == tenant_id)
        if filters["device_id"]:
            stmt = stmt.where(Play.device_id == filters["device_id"])
        if filters["asset_id"]:
            stmt = stmt.where(Play.asset_id == filters["asset_id"])
        if filters["from"]:
            stmt = stmt.where(Play.started_at >= filters["from"])
        if filters["to"]:
            stmt = stmt.where(Play.started_at < filters["to"])
        if after:
            started_text, _, play_id = repo.decode_after(after).partition("|")
            started = v.parse_instant(started_text, "after")
            stmt = stmt.where(
                (Play.started_at > started) | ((Play.started_at == started) & (Play.id > play_id))
            )
        with self.deps.db.read() as s:
            rows = list(s.scalars(stmt.order_by(Play.started_at, Play.id).limit(limit + 1)))
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = f"{v.format_instant(last.started_at)}|{last.id}"
            return rows[:limit], repo.encode_after(cursor)
        return rows, None

    def _csv(self, tenant_id: str, filters: dict[str, Any]) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(repo.PLAY_FIELDS)
        after: str | None = None
        while True:
            rows, after = self._page(tenant_id, filters, 1000, after)
            for play in rows:
                record = repo.play_json(play)
                writer.writerow([csv_cell(record[f]) for f in repo.PLAY_FIELDS])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            if after is None:
                return
