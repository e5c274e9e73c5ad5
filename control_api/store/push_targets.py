"""Which devices' views a range of the change log touched: the devices to nudge.

A change touches the devices its object is (or was, just before it) a root
for: a schedule's target before (``root_before``) and now; an emergency asset,
before or now, every device; a playlist, the targets of the schedules that use
it now; a plain asset, those of the schedules whose playlists hold it; a
device, itself. A range older than the log's horizon cannot be read: every
device of the tenant. A fixed handful of queries whatever the size of the
fleet or of the range (the devices of an "all" target are one SELECT).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from control_api.core.manifest import EMERGENCY_ROOT, NOT_A_ROOT, schedule_root
from control_api.store.devices import in_any_group
from control_api.store.models import Asset, Change, Device, PlaylistItem, Schedule, Tenant

ALL = "all"


def changed_roots(s: Session, tenant_id: str, after: int, up_to: int) -> set[str]:
    """The roots (``all``, ``group:<g>``, ``device:<id>``) changes in (after, up_to] touched."""
    horizon = s.scalar(select(Tenant.horizon).where(Tenant.id == tenant_id))
    if horizon is None:
        return set()
    if after < horizon:
        return {ALL}
    rows = s.execute(
        select(Change.kind, Change.object_id, Change.root_before).where(
            Change.tenant_id == tenant_id, Change.revision > after, Change.revision <= up_to
        )
    ).all()
    roots: set[str] = set()
    ids: dict[str, set[str]] = {"asset": set(), "playlist": set(), "schedule": set()}
    for kind, object_id, root_before in rows:
        if root_before not in (None, NOT_A_ROOT):
            roots.add(root_before)
        if kind == "device":
            roots.add(f"device:{object_id}")
        elif kind in ids:
            ids[kind].add(object_id)
    if EMERGENCY_ROOT in roots or _any_emergency(s, tenant_id, ids["asset"]):
        return {ALL}
    roots.update(_schedule_roots(s, tenant_id, ids))
    return roots


def devices_of(s: Session, tenant_id: str, roots: Collection[str]) -> list[str]:
    """The tenant's device ids that ``roots`` reach, in id order (one query)."""
    if not roots:
        return []
    query = select(Device.id).where(Device.tenant_id == tenant_id).order_by(Device.id)
    if ALL not in roots:
        device_ids = [r.removeprefix("device:") for r in roots if r.startswith("device:")]
        groups = [r.removeprefix("group:") for r in roots if r.startswith("group:")]
        matches: list[ColumnElement[bool]] = []
        if device_ids:
            matches.append(Device.id.in_(device_ids))
        if groups:
            matches.append(in_any_group(s, groups))
        if not matches:
            return []
        query = query.where(or_(*matches))
    return list(s.scalars(query))


def _any_emergency(s: Session, tenant_id: str, asset_ids: set[str]) -> bool:
    if not asset_ids:
        return False
    found = s.scalar(
        select(Asset.id)
        .where(Asset.tenant_id == tenant_id, Asset.emergency.is_(True), Asset.id.in_(asset_ids))
        .limit(1)
    )
    return found is not None


def _schedule_roots(s: Session, tenant_id: str, ids: dict[str, set[str]]) -> set[str]:
    """The targets, now, of the changed schedules and of those using a changed playlist
    or a playlist that holds a changed asset."""
    playlist_ids = set(ids["playlist"])
    if ids["asset"]:
        playlist_ids.update(
            s.scalars(
                select(PlaylistItem.playlist_id)
                .where(PlaylistItem.asset_id.in_(ids["asset"]))
                .distinct()
            )
        )
    matches: list[ColumnElement[bool]] = []
    if ids["schedule"]:
        matches.append(Schedule.id.in_(ids["schedule"]))
    if playlist_ids:
        matches.append(Schedule.playlist_id.in_(playlist_ids))
    if not matches:
        return set()
    rows = s.execute(
        select(Schedule.target_kind, Schedule.target_value)
        .where(Schedule.tenant_id == tenant_id, or_(*matches))
        .distinct()
    )
    return {schedule_root(kind, value) for kind, value in rows}
