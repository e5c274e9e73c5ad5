"""What plays on a device: the player's own schedule rules run on the API's data.

The director's "what plays on device D at T" and the panel's week view
(DESIGN.md §8). The rules are :mod:`lomuz_rules` (the player runs the same
code); this module only builds the device's catalogue from the database, as
its full manifest would carry it: the schedules and overrides that target it
(directly, by one of its groups, or all), their playlists, those playlists' assets, the
tenant's emergency assets, and the device's time zone.

What the API cannot know it states plainly: every file counts as present (the
box may still be downloading), nothing is quarantined, nothing has played yet
(so the item is the one a fresh player starts with), the emergency draw takes
the first candidate by id, and the fallback is the jingle unless the caller
says silence (a player setting). Tier, schedule and playlist do not depend
on any of these except file presence.

Reads only; the caller owns the session (``Database.read()``). A device of
another tenant, or none, is ``NotFound`` (from the store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from control_api.core import manifest as mf
from control_api.store import content, devices, models
from control_api.store.db import Database
from lomuz_rules.model import (
    MINUTES_PER_DAY,
    Asset,
    Decision,
    MediaType,
    Override,
    Playlist,
    PlaylistItem,
    Schedule,
    TargetKind,
    Tier,
    every_file_present,
)
from lomuz_rules.schedule import Catalogue, decide
from lomuz_rules.timeline import Segment, timeline

__all__ = [
    "DevicePreview",
    "GroupWeek",
    "device_catalogue",
    "device_timeline",
    "group_week",
    "monday",
    "preview",
    "what_plays_at",
]

# A group's week is shown in its first device's zone; a group without devices in UTC.
DEFAULT_TIMEZONE = "UTC"


def _first(candidates: Sequence[str]) -> str:
    return candidates[0]


def what_plays_at(
    s: Session, tenant_id: str, device_id: str, at: datetime, *, fallback: Tier = Tier.JINGLE
) -> Decision:
    """The decision the device's rules take at ``at`` (tz-aware), with its reasons."""
    return decide(device_catalogue(s, tenant_id, device_id), at, fallback, choice=_first)


def device_timeline(
    s: Session,
    tenant_id: str,
    device_id: str,
    start: datetime,
    end: datetime,
    *,
    fallback: Tier = Tier.JINGLE,
) -> list[Segment]:
    """The segments of ``[start, end)`` with the tier, schedule and playlist holding in each."""
    return timeline(device_catalogue(s, tenant_id, device_id), start, end, fallback)


@dataclass(frozen=True)
class DevicePreview:
    """The decision at one instant and the segments of a range, from one catalogue."""

    decision: Decision
    segments: list[Segment]
    playlist_names: Mapping[str, str]
    asset_titles: Mapping[str, str]


def preview(
    db: Database,
    tenant_id: str,
    device_id: str,
    *,
    at: datetime,
    start: datetime,
    end: datetime,
    fallback: Tier = Tier.JINGLE,
) -> DevicePreview:
    """:func:`what_plays_at` ``at`` and :func:`device_timeline` over ``[start, end)``
    in one read (the panel's device page)."""
    with db.read() as s:
        catalogue = device_catalogue(s, tenant_id, device_id)
    return DevicePreview(
        decision=decide(catalogue, at, fallback, choice=_first),
        segments=timeline(catalogue, start, end, fallback),
        playlist_names={p.id: p.name for p in catalogue.playlists.values()},
        asset_titles={a.id: a.title for a in catalogue.assets.values()},
    )


@dataclass(frozen=True)
class GroupWeek:
    """A week of what plays on a device that is in ``group`` only, from local Monday
    00:00 in ``timezone``: the zone of ``timezone_device_id`` (the group's first device
    by id), or UTC when no device is in the group."""

    group: str
    timezone: str
    timezone_device_id: str | None
    first_day: date
    segments: list[Segment]
    playlist_names: Mapping[str, str]


def monday(week_of: date | None, timezone: str, now: datetime) -> date:
    """The Monday of the week of ``week_of``, or of ``now``'s local date in ``timezone``."""
    day = week_of if week_of is not None else now.astimezone(ZoneInfo(timezone)).date()
    return day - timedelta(days=day.weekday())


def group_week(
    db: Database,
    tenant_id: str,
    group: str,
    *,
    week_of: date | None,
    now: datetime,
    fallback: Tier = Tier.JINGLE,
) -> GroupWeek:
    """The rules over the week of ``week_of`` (None: ``now``'s) for the group's scope:
    its schedules and those for all devices (a device's own schedules and other
    groups' are not the group's)."""
    with db.read() as s:
        first, _ = devices.page_devices(s, tenant_id, 1, None, group=group)
        timezone = first[0].timezone if first else DEFAULT_TIMEZONE
        view = content.scope_view(s, tenant_id, None, [group])
        catalogue = _catalogue(s, tenant_id, view, timezone)
    first_day = monday(week_of, timezone, now)
    zone = ZoneInfo(timezone)
    start = datetime.combine(first_day, time(0), tzinfo=zone)
    end = datetime.combine(first_day + timedelta(days=7), time(0), tzinfo=zone)
    return GroupWeek(
        group=group,
        timezone=timezone,
        timezone_device_id=first[0].id if first else None,
        first_day=first_day,
        segments=timeline(catalogue, start, end, fallback),
        playlist_names={p.id: p.name for p in catalogue.playlists.values()},
    )


def device_catalogue(s: Session, tenant_id: str, device_id: str) -> Catalogue:
    """The device's catalogue as its full manifest would carry it, every file present.

    The same closure as the manifest (``plan_full`` of the device's view, then every
    asset its playlists name: ``manifest.plan_content``), read as plain rows.
    """
    device = devices.get_device(s, tenant_id, device_id)
    return _catalogue(s, tenant_id, content.device_view(s, device), device.timezone)


def _catalogue(s: Session, tenant_id: str, view: mf.View, timezone: str) -> Catalogue:
    plan = mf.plan_full(view)
    schedules = content.load_by_ids(s, models.Schedule, tenant_id, plan.upsert["schedule"])
    overrides = content.load_overrides(s, tenant_id, plan.upsert["override"])
    playlists = content.load_by_ids(s, models.Playlist, tenant_id, plan.upsert["playlist"])
    items = content.playlist_item_rows(s, [p.id for p in playlists])
    asset_ids = set(plan.upsert["asset"])
    for rows in items.values():
        asset_ids.update(item.asset_id for item in rows)
    assets = [_asset(a) for a in content.asset_rows(s, tenant_id, asset_ids)]
    return Catalogue(
        timezone=timezone,
        assets={a.id: a for a in assets},
        playlists={p.id: _playlist(p, items[p.id]) for p in playlists},
        schedules=tuple(_schedule(x) for x in schedules),
        overrides=tuple(_override(x) for x in overrides),
        files=every_file_present(assets),
    )


# --- rows to the rules' types (the fields the manifest carries) -------------


def _asset(a: Any) -> Asset:
    """A row of ``content.asset_rows`` (or an Asset): the columns the manifest carries."""
    return Asset(
        id=a.id,
        sha256=a.sha256,
        size_bytes=a.size_bytes,
        media_type=MediaType(a.media_type),
        content_type=a.content_type,
        title=a.title or "",
        duration_ms=a.duration_ms,
        valid_from=a.valid_from,
        valid_until=a.valid_until,
        emergency=a.emergency,
        url=f"/v1/media/{a.sha256}",
    )


def _playlist(p: models.Playlist, items: Sequence[Any]) -> Playlist:
    return Playlist(
        id=p.id,
        name=p.name,
        items=tuple(PlaylistItem(i.asset_id, i.duration_ms) for i in items),
        version=p.version,
    )


def _override(x: models.Override) -> Override:
    return Override(
        id=x.id,
        playlist_id=x.playlist_id,
        target=TargetKind(x.target_kind),
        until=x.until,
        created_at=x.created_at,
    )


def _minute(hh_mm: str) -> int:
    """``"HH:MM"`` (validated on write; ``"24:00"`` only as an end) as minutes since midnight."""
    hours, _, minutes = hh_mm.partition(":")
    minute = int(hours) * 60 + int(minutes)
    if not 0 <= minute <= MINUTES_PER_DAY:
        raise ValueError(f"time of day out of range: {hh_mm!r}")
    return minute


def _schedule(x: models.Schedule) -> Schedule:
    return Schedule(
        id=x.id,
        playlist_id=x.playlist_id,
        target=TargetKind(x.target_kind),
        priority=x.priority,
        days=frozenset(x.days),
        start_minute=_minute(x.start_time),
        end_minute=_minute(x.end_time),
        valid_from=x.valid_from,
        valid_until=x.valid_until,
        created_at=x.created_at,
        version=x.version,
    )
