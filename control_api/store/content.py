"""Content queries and writes, scoped by tenant: assets, playlists, schedules, and the
device views the manifest is planned from (``control_api.store.repository`` explains
the locking and the change log)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, union
from sqlalchemy.orm import Session

from control_api.core.manifest import View
from control_api.errors import InvalidField, NotFound
from control_api.store.models import Asset, Device, Override, Playlist, PlaylistItem, Schedule
from control_api.store.repository import Row, chunks, decode_after, encode_after, get_row

# ---------------------------------------------------------------- assets


def get_asset(s: Session, tenant_id: str, asset_id: str, *, for_update: bool = False) -> Asset:
    return get_row(s, Asset, tenant_id, asset_id, for_update=for_update)


def asset_by_sha(s: Session, tenant_id: str, sha256: str) -> Asset | None:
    return s.scalars(
        select(Asset).where(Asset.tenant_id == tenant_id, Asset.sha256 == sha256)
    ).first()


def asset_in_use(s: Session, asset_id: str) -> bool:
    return (
        s.scalars(
            select(PlaylistItem.playlist_id).where(PlaylistItem.asset_id == asset_id).limit(1)
        ).first()
        is not None
    )


def asset_text_filter(text: str | None) -> list[ColumnElement[bool]]:
    """Title or file name contains ``text`` (case-insensitive, LIKE wildcards literal)."""
    if not text:
        return []
    if "\x00" in text:  # no stored name holds NUL, and PostgreSQL refuses it in a query
        return [false()]
    return [
        or_(
            Asset.title.icontains(text, autoescape=True),
            Asset.filename.icontains(text, autoescape=True),
        )
    ]


def playlists_using_asset(s: Session, tenant_id: str, asset_id: str) -> list[tuple[str, str]]:
    stmt = (
        select(Playlist.id, Playlist.name)
        .where(
            Playlist.tenant_id == tenant_id,
            Playlist.id.in_(
                select(PlaylistItem.playlist_id).where(PlaylistItem.asset_id == asset_id)
            ),
        )
        .order_by(Playlist.name, Playlist.id)
    )
    return [(row.id, row.name) for row in s.execute(stmt)]


# ---------------------------------------------------------------- playlists


def playlist_choices(
    s: Session, tenant_id: str, text: str | None, limit: int
) -> list[tuple[str, str]]:
    """Up to ``limit`` of the tenant's (id, name) by name: those whose name contains
    ``text`` (case-insensitive, LIKE wildcards literal) or whose id it is; all without."""
    stmt = select(Playlist.id, Playlist.name).where(Playlist.tenant_id == tenant_id)
    if text and "\x00" in text:  # no stored name holds NUL, and PostgreSQL refuses it
        return []
    if text:
        stmt = stmt.where(or_(Playlist.name.icontains(text, autoescape=True), Playlist.id == text))
    rows = s.execute(stmt.order_by(Playlist.name, Playlist.id).limit(limit)).all()
    return [(row.id, row.name) for row in rows]


def playlists_named(s: Session, tenant_id: str, name: str, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` of the tenant's (id, name) named exactly ``name``; else, when
    none is, named so but for case."""
    if "\x00" in name:
        return []
    base = select(Playlist.id, Playlist.name).where(Playlist.tenant_id == tenant_id)
    for matches in (Playlist.name == name, func.lower(Playlist.name) == name.lower()):
        rows = s.execute(base.where(matches).order_by(Playlist.id).limit(limit)).all()
        if rows:
            return [(row.id, row.name) for row in rows]
    return []


def playlist_items(s: Session, playlist_ids: Sequence[str]) -> dict[str, list[PlaylistItem]]:
    items: dict[str, list[PlaylistItem]] = {pid: [] for pid in playlist_ids}
    for chunk in chunks(playlist_ids):
        for item in s.scalars(
            select(PlaylistItem)
            .where(PlaylistItem.playlist_id.in_(chunk))
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position)
        ):
            items[item.playlist_id].append(item)
    return items


def playlist_item_rows(s: Session, playlist_ids: Sequence[str]) -> dict[str, list[Any]]:
    """:func:`playlist_items` as plain rows (``asset_id``, ``duration_ms``), in position
    order: a tenth of the cost of ORM objects for the thousands a preview reads."""
    items: dict[str, list[Any]] = {pid: [] for pid in playlist_ids}
    for chunk in chunks(playlist_ids):
        for row in s.execute(
            select(PlaylistItem.playlist_id, PlaylistItem.asset_id, PlaylistItem.duration_ms)
            .where(PlaylistItem.playlist_id.in_(chunk))
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position)
        ):
            items[row.playlist_id].append(row)
    return items


def playlist_item_lengths(s: Session, playlist_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Each playlist's items as plain rows (``duration_ms``, the asset's ``media_type`` and
    ``asset_duration_ms``), in position order: what a playlist's length is made of."""
    items: dict[str, list[Any]] = {pid: [] for pid in playlist_ids}
    for chunk in chunks(playlist_ids):
        for row in s.execute(
            select(
                PlaylistItem.playlist_id,
                PlaylistItem.duration_ms,
                Asset.media_type,
                Asset.duration_ms.label("asset_duration_ms"),
            )
            .join(Asset, Asset.id == PlaylistItem.asset_id)
            .where(PlaylistItem.playlist_id.in_(chunk))
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position)
        ):
            items[row.playlist_id].append(row)
    return items


def get_playlist(
    s: Session, tenant_id: str, playlist_id: str, *, for_update: bool = False
) -> Playlist:
    return get_row(s, Playlist, tenant_id, playlist_id, for_update=for_update)


def set_playlist_items(
    s: Session, tenant_id: str, playlist_id: str, items: Sequence[tuple[str, int | None]]
) -> None:
    """Replace the items; every asset must belong to the tenant (else InvalidField naming it)."""
    wanted = sorted({asset_id for asset_id, _ in items})
    found: set[str] = set()
    for chunk in chunks(wanted):
        found.update(
            s.scalars(select(Asset.id).where(Asset.tenant_id == tenant_id, Asset.id.in_(chunk)))
        )
    for index, (asset_id, _) in enumerate(items):
        if asset_id not in found:
            raise InvalidField(
                f"items[{index}].asset_id", f"no asset {asset_id!r}", "unknown_asset"
            )
    s.execute(delete(PlaylistItem).where(PlaylistItem.playlist_id == playlist_id))
    for position, (asset_id, duration_ms) in enumerate(items):
        s.add(
            PlaylistItem(
                playlist_id=playlist_id,
                position=position,
                asset_id=asset_id,
                duration_ms=duration_ms,
            )
        )


def playlist_scheduled(s: Session, playlist_id: str) -> bool:
    return (
        s.scalars(select(Schedule.id).where(Schedule.playlist_id == playlist_id).limit(1)).first()
        is not None
    )


def get_override(
    s: Session, tenant_id: str, override_id: str, *, for_update: bool = False
) -> Override:
    """The tenant's override or NotFound (``for_update``: locked as ``get_row`` locks)."""
    stmt = select(Override).where(Override.id == override_id, Override.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    row = s.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no override {override_id!r}")
    return row


def page_overrides(
    s: Session, tenant_id: str, now: datetime, limit: int, after: str | None
) -> tuple[list[Override], str | None]:
    """A page of the tenant's overrides that have not ended at ``now``, in id order."""
    stmt = select(Override).where(Override.tenant_id == tenant_id, Override.until > now)
    if after:
        stmt = stmt.where(Override.id > decode_after(after))
    rows = list(s.scalars(stmt.order_by(Override.id).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_after(rows[limit - 1].id)
    return rows, None


def active_overrides_reaching(
    s: Session, tenant_id: str, device_id: str, groups: list[str], *, now: datetime, limit: int
) -> list[Override]:
    """The overrides that have not ended at ``now`` and reach the device (directly, by one
    of its ``groups``, or all), at most ``limit``, the one ending last first."""
    target = or_(
        Override.target_kind == "all",
        and_(Override.target_kind == "device", Override.target_value == device_id),
    )
    if groups:
        target = or_(
            target, and_(Override.target_kind == "group", Override.target_value.in_(groups))
        )
    stmt = select(Override).where(Override.tenant_id == tenant_id, Override.until > now, target)
    return list(s.scalars(stmt.order_by(Override.until.desc(), Override.id).limit(limit)))


def load_overrides(s: Session, tenant_id: str, ids: Iterable[str]) -> list[Override]:
    """The tenant's overrides with these ids, in id order."""
    rows: list[Override] = []
    for chunk in chunks(sorted(ids)):
        stmt = select(Override).where(Override.id.in_(chunk))
        rows.extend(row for row in s.scalars(stmt) if row.tenant_id == tenant_id)
    return sorted(rows, key=lambda row: row.id)


def playlist_overridden(s: Session, playlist_id: str) -> bool:
    return (
        s.scalars(select(Override.id).where(Override.playlist_id == playlist_id).limit(1)).first()
        is not None
    )


# ---------------------------------------------------------------- schedules


def get_schedule(
    s: Session, tenant_id: str, schedule_id: str, *, for_update: bool = False
) -> Schedule:
    return get_row(s, Schedule, tenant_id, schedule_id, for_update=for_update)


# ---------------------------------------------------------------- manifest


def device_view(s: Session, device: Device) -> View:
    return scope_view(s, device.tenant_id, device.id, list(device.groups))


def scope_view(s: Session, tenant_id: str, device_id: str | None, groups: list[str]) -> View:
    """The view of a device ``device_id`` in ``groups``; with no device id, of any
    device that is in ``groups`` only (the panel's week of a group)."""
    target = Schedule.target_kind == "all"
    if device_id is not None:
        target = or_(
            target, and_(Schedule.target_kind == "device", Schedule.target_value == device_id)
        )
    if groups:
        target = or_(
            target, and_(Schedule.target_kind == "group", Schedule.target_value.in_(groups))
        )
    schedule_playlists = {
        r.id: r.playlist_id
        for r in s.execute(
            select(Schedule.id, Schedule.playlist_id).where(Schedule.tenant_id == tenant_id, target)
        )
    }
    override_playlists = _override_playlists(s, tenant_id, device_id, groups)
    playlist_ids = sorted(set(schedule_playlists.values()) | set(override_playlists.values()))
    playlist_assets: dict[str, list[str]] = {pid: [] for pid in playlist_ids}
    for chunk in chunks(playlist_ids):
        for r in s.execute(
            select(PlaylistItem.playlist_id, PlaylistItem.asset_id).where(
                PlaylistItem.playlist_id.in_(chunk)
            )
        ):
            playlist_assets[r.playlist_id].append(r.asset_id)
    emergency = frozenset(
        s.scalars(select(Asset.id).where(Asset.tenant_id == tenant_id, Asset.emergency.is_(True)))
    )
    return View(
        schedule_playlists=schedule_playlists,
        playlist_assets={k: tuple(v) for k, v in playlist_assets.items()},
        emergency_assets=emergency,
        override_playlists=override_playlists,
    )


def device_targets(s: Session, tenant_id: str) -> list[str]:
    """The devices a schedule or an override of the tenant targets by id."""
    schedules = select(Schedule.target_value).where(
        Schedule.tenant_id == tenant_id, Schedule.target_kind == "device"
    )
    overrides = select(Override.target_value).where(
        Override.tenant_id == tenant_id, Override.target_kind == "device"
    )
    return list(s.scalars(union(schedules, overrides)))


def _override_playlists(
    s: Session, tenant_id: str, device_id: str | None, groups: list[str]
) -> dict[str, str]:
    """The overrides of the scope (as ``scope_view`` targets schedules), ended ones too:
    a view must not change by time alone, or deltas could not follow it."""
    target = Override.target_kind == "all"
    if device_id is not None:
        target = or_(
            target, and_(Override.target_kind == "device", Override.target_value == device_id)
        )
    if groups:
        target = or_(
            target, and_(Override.target_kind == "group", Override.target_value.in_(groups))
        )
    rows = s.execute(
        select(Override.id, Override.playlist_id).where(Override.tenant_id == tenant_id, target)
    )
    return {r.id: r.playlist_id for r in rows}


_ASSET_RULE_COLUMNS = (
    Asset.id,
    Asset.sha256,
    Asset.size_bytes,
    Asset.media_type,
    Asset.content_type,
    Asset.title,
    Asset.duration_ms,
    Asset.valid_from,
    Asset.valid_until,
    Asset.emergency,
)


def asset_rows(s: Session, tenant_id: str, ids: Iterable[str]) -> list[Any]:
    """The tenant's assets with these ids as plain rows of the columns the schedule
    rules read (no ORM objects: a preview reads thousands), in id order."""
    rows: list[Any] = []
    for chunk in chunks(sorted(ids)):
        # The tenant is checked on the rows, not in SQL: see load_by_ids.
        stmt = select(Asset.tenant_id, *_ASSET_RULE_COLUMNS).where(Asset.id.in_(chunk))
        rows.extend(row for row in s.execute(stmt) if row.tenant_id == tenant_id)
    return sorted(rows, key=lambda row: row.id)


def load_by_ids(s: Session, model: type[Row], tenant_id: str, ids: Iterable[str]) -> list[Row]:
    """The tenant's rows with these ids, in id order (queried in chunks: bound parameters
    are limited)."""
    rows: list[Row] = []
    for chunk in chunks(sorted(ids)):
        # By primary key only, the tenant checked on the rows: with ``tenant_id = ?`` and
        # hundreds of ids SQLite's planner (no statistics) scans the tenant's index
        # instead, all 50,000 assets of a big tenant per chunk (25 ms each).
        stmt = select(model).where(model.id.in_(chunk))
        rows.extend(row for row in s.scalars(stmt) if row.tenant_id == tenant_id)
    return sorted(rows, key=lambda row: row.id)
