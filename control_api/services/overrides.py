"""Overrides: "play this playlist on a device, a group or all now, until T" (PROTOCOL.md).

An override is a root of the device views it targets, exactly as a schedule
is (``core.manifest``): creating one and deleting one go through the change
log, so the manifest cursor moves and a delta carries it (or its tombstone),
and whatever publishes "this device's view changed" sees it as it sees a
schedule's change. The devices end an override by themselves at ``until``
(``lomuz_rules``); its row stays in their views until the next override write
of the tenant, which deletes every override that ended (with tombstones), so
their playlists and assets leave the devices then.

Rules: the playlist is the tenant's (422 ``unknown_playlist``), a device
target is a device of the tenant (422 ``unknown_device``), a group is any name;
``until`` is in the future and at most :data:`MAX_OVERRIDE_S` ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.errors import InvalidField
from control_api.services.pages import Page
from control_api.store import content
from control_api.store import devices as device_rows
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Device, Override, Playlist

# An override is for "now": a standing arrangement is a schedule.
MAX_OVERRIDE_S = 31 * 24 * 3600


@dataclass(frozen=True)
class OverrideFields:
    """An override as asked for, each field valid on its own (``resources.bodies``)."""

    playlist_id: str
    target_kind: str  # "device" | "group" | "all"
    target_value: str
    until: datetime


def _check(s: Session, tenant_id: str, fields: OverrideFields, now: datetime) -> None:
    if fields.until <= now:
        raise InvalidField("until", "must be in the future")
    if fields.until > now + timedelta(seconds=MAX_OVERRIDE_S):
        raise InvalidField("until", f"must be at most {MAX_OVERRIDE_S // 86400} days ahead")
    playlist = s.get(Playlist, fields.playlist_id)
    if playlist is None or playlist.tenant_id != tenant_id:
        raise InvalidField("playlist_id", f"no playlist {fields.playlist_id!r}", "unknown_playlist")
    # Locked until commit, as for a schedule: a concurrent DELETE of the device waits.
    if fields.target_kind == "device" and not device_rows.lock_device_target(
        s, tenant_id, fields.target_value
    ):
        raise InvalidField(
            "target.device_id", f"no device {fields.target_value!r}", "unknown_device"
        )


def _ended(s: Session, tenant_id: str, now: datetime) -> list[Override]:
    return list(
        s.scalars(
            select(Override)
            .where(Override.tenant_id == tenant_id, Override.until <= now)
            .order_by(Override.id)
        )
    )


def _deleted(overrides: list[Override]) -> list[repo.ChangeRecord]:
    return [("override", o.id, True, repo.view_root(o)) for o in overrides]


def purge_ended(
    s: Session, tenant_id: str, now: datetime, *, playlist_id: str | None = None
) -> list[repo.ChangeRecord]:
    """Delete the tenant's overrides that ended (of ``playlist_id`` only, when given);
    their tombstones, for the caller's ``record_changes``."""
    ended = [o for o in _ended(s, tenant_id, now) if playlist_id in (None, o.playlist_id)]
    for override in ended:
        s.delete(override)
    return _deleted(ended)


def list_active(
    db: Database, tenant_id: str, now: datetime, limit: int, after: str | None
) -> Page[Override]:
    """The tenant's overrides that have not ended, in id order."""
    with db.read() as s:
        rows, nxt = content.page_overrides(s, tenant_id, now, limit, after)
    return Page(rows, nxt)


@dataclass(frozen=True)
class OverrideListing:
    """Active overrides with the names the panel shows for them."""

    items: list[Override]
    playlist_names: dict[str, str]
    device_names: dict[str, str]  # of the device targets
    more: bool  # more overrides than the limit


def _named(s: Session, tenant_id: str, rows: list[Override], more: bool) -> OverrideListing:
    playlists = content.load_by_ids(s, Playlist, tenant_id, {o.playlist_id for o in rows})
    device_ids = {o.target_value for o in rows if o.target_kind == "device"}
    targets = content.load_by_ids(s, Device, tenant_id, device_ids)
    names = {p.id: p.name for p in playlists}
    return OverrideListing(rows, names, {d.id: d.name for d in targets}, more)


def active_named(db: Database, tenant_id: str, now: datetime, limit: int) -> OverrideListing:
    """The tenant's first ``limit`` overrides that have not ended, in id order, named."""
    with db.read() as s:
        rows, after = content.page_overrides(s, tenant_id, now, limit, None)
        return _named(s, tenant_id, rows, after is not None)


def active_for_device(
    db: Database, tenant_id: str, device_id: str, now: datetime, limit: int
) -> OverrideListing:
    """The overrides that have not ended and reach the tenant's device (NotFound: no such
    device): its own, its groups', all devices', the one ending last first, named."""
    with db.read() as s:
        device = device_rows.get_device(s, tenant_id, device_id)
        rows = content.active_overrides_reaching(
            s, tenant_id, device_id, list(device.groups or ()), now=now, limit=limit + 1
        )
        return _named(s, tenant_id, rows[:limit], len(rows) > limit)


def get_override(db: Database, tenant_id: str, override_id: str) -> Override:
    with db.read() as s:
        return content.get_override(s, tenant_id, override_id)


def create_override(
    db: Database, tenant_id: str, fields: OverrideFields, *, now: datetime, keep_revisions: int
) -> Override:
    with db.write() as s:
        _check(s, tenant_id, fields, now)
        changes = purge_ended(s, tenant_id, now)
        override = Override(
            id=repo.new_id("ovr"),
            tenant_id=tenant_id,
            playlist_id=fields.playlist_id,
            target_kind=fields.target_kind,
            target_value=fields.target_value,
            until=fields.until,
            created_at=now,
        )
        s.add(override)
        s.flush()
        repo.record_changes(
            s, tenant_id, [*changes, ("override", override.id, False)], keep_revisions
        )
    return override


def delete_override(
    db: Database, tenant_id: str, override_id: str, *, now: datetime, keep_revisions: int
) -> None:
    """Ends the override at once (whether it had ended already or not): 204; NotFound
    for an id the tenant does not have."""
    with db.write() as s:
        override = content.get_override(s, tenant_id, override_id, for_update=True)
        s.delete(override)
        s.flush()
        changes = [*_deleted([override]), *purge_ended(s, tenant_id, now)]
        repo.record_changes(s, tenant_id, changes, keep_revisions)
