"""The device's manifest: not modified (from the cached revision alone), full or delta."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from control_api.core import manifest as mf
from control_api.errors import Unauthenticated
from control_api.manifest_cache import ManifestCache, SharedManifest
from control_api.revisions import RevisionCache
from control_api.services.playlists import PlaylistRecord
from control_api.store import content
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Asset, Device, Override, Playlist, Schedule


@dataclass(frozen=True)
class NotModified:
    cursor: str  # the device's cursor, unchanged


@dataclass(frozen=True)
class Snapshot:
    """What a device must apply: every object of its view (``full``) or what changed."""

    cursor: str
    full: bool
    device: Device
    assets: Sequence[Asset]
    playlists: Sequence[PlaylistRecord]
    schedules: Sequence[Schedule]
    deleted_assets: Sequence[str]
    deleted_playlists: Sequence[str]
    deleted_schedules: Sequence[str]
    server_time: datetime
    overrides: Sequence[Override] = ()
    deleted_overrides: Sequence[str] = ()
    shared: bool = False  # the scope's plan (:class:`ManifestCache`), not computed for it


def _unchanged(since: str | None, scope: str, revision: int, horizon: int) -> NotModified | None:
    """Not modified when the cursor names ``revision`` in the device's current scope."""
    if mf.parse_cursor(since, scope, current=revision, horizon=horizon) != revision:
        return None
    return NotModified(mf.make_cursor(revision, scope))


def poll(
    db: Database,
    revisions: RevisionCache,
    tenant_id: str,
    device_id: str,
    scope: str,
    *,
    since: str | None,
    now: datetime,
    cached: bool = True,
    shared: ManifestCache[Planned] | None = None,
) -> NotModified | Snapshot:
    """The manifest after the cursor ``since`` (None or unusable: a full snapshot).

    ``scope`` is the device's scope as its token's lookup saw it. Most polls change
    nothing: those are answered from the cached revision, without a session;
    ``cached=False`` (``Cache-Control: no-cache``) always reads the database.
    With ``shared``, a device with no target of its own gets the plan computed once
    for its scope between the same two revisions (a push nudge's burst).
    """
    cached_state = revisions.get(tenant_id) if cached else None
    if cached_state is not None:
        unchanged = _unchanged(since, scope, *cached_state)
        if unchanged is not None:
            return unchanged
    generation = revisions.generation()
    with db.read(snapshot=True) as s:
        revision, horizon, device = repo.tenant_state_and_device(s, tenant_id, device_id)
        revisions.put(tenant_id, (revision, horizon), generation)
        unchanged = _unchanged(since, scope, revision, horizon)
        if unchanged is not None:
            return unchanged
        if device is None:
            raise Unauthenticated("invalid or revoked token", "invalid_token")
        device_scope = mf.scope_hash(device.timezone, device.groups)
        base = mf.parse_cursor(since, device_scope, current=revision, horizon=horizon)
        cursor = mf.make_cursor(revision, device_scope)
        if shared is not None:
            key = (tenant_id, base, revision, device_scope)
            entry = shared.get(key)
            if entry is None:
                entry = _plan_scope(s, tenant_id, list(device.groups), base)
                shared.put(key, entry)
            if entry.serves(device.id):
                return _snapshot(device, entry.content, cursor, now=now, shared=True)
        view = content.device_view(s, device)
        plan = None
        if base is not None:
            plan = mf.plan_delta(
                repo.changed_since(s, tenant_id, base),
                view,
                mf.device_roots(device.id, device.groups),
            )
        return _snapshot(device, _planned(s, tenant_id, plan, view), cursor, now=now)


@dataclass(frozen=True)
class Planned:
    """A plan with its objects loaded: what a manifest holds but the device and the time."""

    full: bool
    content: Content
    deleted: Mapping[str, Sequence[str]]  # kind → ids, sorted


def _planned(s: Session, tenant_id: str, plan: mf.Plan | None, view: mf.View) -> Planned:
    """``plan`` loaded; None (no delta possible) is the full snapshot of ``view``."""
    full = plan is None
    if plan is None:
        plan = mf.plan_full(view)
    deleted = {kind: sorted(ids) for kind, ids in plan.deleted.items()}
    return Planned(full, plan_content(s, tenant_id, plan), deleted)


def _plan_scope(
    s: Session, tenant_id: str, groups: list[str], base: int | None
) -> SharedManifest[Planned]:
    """The plan of every device in ``groups`` with no target of its own, and who those
    are not (:func:`manifest.device_specific`)."""
    view = content.scope_view(s, tenant_id, None, groups)
    plan = None
    roots_before: Sequence[str | None] = ()
    if base is not None:
        changed = repo.changed_since(s, tenant_id, base)
        roots_before = list(changed.values())
        plan = mf.plan_delta(changed, view, mf.scope_roots(groups))
    return SharedManifest(
        _planned(s, tenant_id, plan, view),
        mf.device_specific(content.device_targets(s, tenant_id), roots_before),
    )


@dataclass(frozen=True)
class Content:
    """The objects a plan upserts: its schedules and overrides, their playlists and every
    asset they name."""

    assets: Sequence[Asset]
    playlists: Sequence[PlaylistRecord]
    schedules: Sequence[Schedule]
    overrides: Sequence[Override] = ()


def plan_content(s: Session, tenant_id: str, plan: mf.Plan) -> Content:
    """What ``plan`` upserts, loaded: the manifest's objects, and the preview's catalogue."""
    schedules = content.load_by_ids(s, Schedule, tenant_id, plan.upsert["schedule"])
    rows = content.load_by_ids(s, Playlist, tenant_id, plan.upsert["playlist"])
    items = content.playlist_items(s, [p.id for p in rows])
    playlists = [PlaylistRecord(p, items[p.id]) for p in rows]
    asset_ids = set(plan.upsert["asset"])
    for record in playlists:
        asset_ids.update(item.asset_id for item in record.items)
    overrides = content.load_overrides(s, tenant_id, plan.upsert["override"])
    assets = content.load_by_ids(s, Asset, tenant_id, asset_ids)
    return Content(assets, playlists, schedules, overrides)


def _snapshot(
    device: Device, planned: Planned, cursor: str, *, now: datetime, shared: bool = False
) -> Snapshot:
    loaded, deleted = planned.content, planned.deleted
    return Snapshot(
        cursor=cursor,
        full=planned.full,
        device=device,
        assets=loaded.assets,
        playlists=loaded.playlists,
        schedules=loaded.schedules,
        deleted_assets=deleted["asset"],
        deleted_playlists=deleted["playlist"],
        deleted_schedules=deleted["schedule"],
        server_time=now,
        overrides=loaded.overrides,
        deleted_overrides=deleted["override"],
        shared=shared,
    )
