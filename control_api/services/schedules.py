"""Schedules: create, list, read, replace (If-Match), delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.services.pages import Page
from control_api.store import content
from control_api.store import devices as device_rows
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Device, Playlist, Schedule


@dataclass(frozen=True)
class ScheduleFields:
    """A schedule's columns, each valid on its own (``core.validation``)."""

    playlist_id: str
    target_kind: str  # "device" | "group" | "all"
    target_value: str
    priority: int = 0
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    start_time: str = "00:00"
    end_time: str = "24:00"
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def _checked(s: Session, tenant_id: str, fields: ScheduleFields) -> ScheduleFields:
    """The rules across fields, and the playlist and a target device must be the tenant's."""
    if fields.start_time == fields.end_time:
        raise InvalidField("end_time", "must differ from start_time")
    v.check_window(fields.valid_from, fields.valid_until, "valid_until")
    playlist = s.get(Playlist, fields.playlist_id)
    if playlist is None or playlist.tenant_id != tenant_id:
        raise InvalidField("playlist_id", f"no playlist {fields.playlist_id!r}", "unknown_playlist")
    # Locked until commit: a concurrent DELETE of the device waits, then sees this schedule.
    if fields.target_kind == "device" and not device_rows.lock_device_target(
        s, tenant_id, fields.target_value
    ):
        raise InvalidField(
            "target.device_id", f"no device {fields.target_value!r}", "unknown_device"
        )
    return fields


def _apply(schedule: Schedule, fields: ScheduleFields) -> None:
    schedule.playlist_id = fields.playlist_id
    schedule.target_kind = fields.target_kind
    schedule.target_value = fields.target_value
    schedule.priority = fields.priority
    schedule.days = list(fields.days)
    schedule.start_time = fields.start_time
    schedule.end_time = fields.end_time
    schedule.valid_from = fields.valid_from
    schedule.valid_until = fields.valid_until


def list_schedules(db: Database, tenant_id: str, limit: int, after: str | None) -> Page[Schedule]:
    with db.read() as s:
        rows, nxt = repo.page_by_id(s, Schedule, tenant_id, limit, after)
    return Page(rows, nxt)


@dataclass(frozen=True)
class ScheduleListing:
    """A page of schedules with the names the panel shows for their playlists and
    device targets (an id of nothing left out)."""

    page: Page[Schedule]
    playlist_names: dict[str, str]
    device_names: dict[str, str]


def list_schedules_named(
    db: Database, tenant_id: str, limit: int, after: str | None
) -> ScheduleListing:
    with db.read() as s:
        rows, nxt = repo.page_by_id(s, Schedule, tenant_id, limit, after)
        playlists = content.load_by_ids(s, Playlist, tenant_id, {r.playlist_id for r in rows})
        device_ids = {r.target_value for r in rows if r.target_kind == "device"}
        targets = content.load_by_ids(s, Device, tenant_id, device_ids)
    return ScheduleListing(
        Page(rows, nxt), {p.id: p.name for p in playlists}, {d.id: d.name for d in targets}
    )


@dataclass(frozen=True)
class FormChoices:
    """What a schedule form offers, each list the first ``limit`` by name; ``more_*``
    when the tenant has more (the form then also takes a typed id, or for a playlist
    a name, searched by ``services.playlists.playlist_choices``)."""

    playlists: list[tuple[str, str]]  # (id, name)
    devices: list[tuple[str, str]]  # (id, name)
    groups: list[str]
    more_playlists: bool
    more_devices: bool


def form_choices(db: Database, tenant_id: str, limit: int) -> FormChoices:
    with db.read() as s:
        playlists = content.playlist_choices(s, tenant_id, None, limit + 1)
        devices = device_rows.device_names(s, tenant_id, limit + 1)
        groups = device_rows.group_names(s, tenant_id, limit)
    return FormChoices(
        playlists=playlists[:limit],
        devices=devices[:limit],
        groups=groups,
        more_playlists=len(playlists) > limit,
        more_devices=len(devices) > limit,
    )


def get_schedule(db: Database, tenant_id: str, schedule_id: str) -> Schedule:
    with db.read() as s:
        return content.get_schedule(s, tenant_id, schedule_id)


def create_schedule(
    db: Database, tenant_id: str, fields: ScheduleFields, now: datetime, keep_revisions: int
) -> Schedule:
    with db.write() as s:
        _checked(s, tenant_id, fields)
        schedule = Schedule(
            id=repo.new_id("sch"), tenant_id=tenant_id, version=1, created_at=now, updated_at=now
        )
        _apply(schedule, fields)
        s.add(schedule)
        s.flush()
        repo.record_changes(s, tenant_id, [("schedule", schedule.id, False)], keep_revisions)
    return schedule


def replace_schedule(
    db: Database,
    tenant_id: str,
    schedule_id: str,
    fields: ScheduleFields | Callable[[], ScheduleFields],
    *,
    if_match: str | None,
    now: datetime,
    keep_revisions: int,
) -> Schedule:
    """VersionMismatch when ``if_match`` names another version (None: last writer wins).

    ``fields`` may be a parser, called once the schedule is found and its version
    matched: the JSON API answers an unknown id or a stale version before a bad body.
    """
    with db.write() as s:
        schedule = content.get_schedule(s, tenant_id, schedule_id, for_update=True)
        v.check_if_match(if_match, schedule.version)
        root_before = repo.view_root(schedule)
        given = fields if isinstance(fields, ScheduleFields) else fields()
        _apply(schedule, _checked(s, tenant_id, given))
        schedule.version += 1
        schedule.updated_at = now
        repo.record_changes(
            s, tenant_id, [("schedule", schedule.id, False, root_before)], keep_revisions
        )
    return schedule


def delete_schedule(
    db: Database, tenant_id: str, schedule_id: str, *, if_match: str | None, keep_revisions: int
) -> None:
    with db.write() as s:
        schedule = content.get_schedule(s, tenant_id, schedule_id, for_update=True)
        v.check_if_match(if_match, schedule.version)
        s.delete(schedule)
        repo.record_changes(
            s,
            tenant_id,
            [("schedule", schedule_id, True, repo.view_root(schedule))],
            keep_revisions,
        )
