"""The schedule engine's pure rules: what plays at an instant, and why.

This is the reference implementation of DESIGN.md §3.1, shared by the player
and the control API (the director's "what plays on device D at T / this
week"). The player's SQL-backed ``PlayerStore.decide`` must pick the same
tier, asset and schedule (a hypothesis test feeds both the same catalogues and
instants). File presence comes in as a mapping the caller builds
(:class:`lomuz_rules.model.FileView` by sha256): the player's cache index, or
"every file present" for the API.

Invariants
----------
* Validity: an asset or schedule is valid at ``at`` when
  ``valid_from <= at < valid_until``; a missing end is open.
* Dayparts are judged on the instant's local wall-clock time in the device's
  time zone (zoneinfo), in ``[start_minute, end_minute)`` minutes since local
  midnight; ``end_minute == 1440`` is "24:00". ``end < start`` crosses
  midnight and the window belongs to its START day (Mon 22:00-02:00 covers
  Tue 01:00 when Monday is one of ``days``). ``start == end`` is an empty
  window. Because we convert the instant to wall-clock time (never the other
  way round), a local time skipped by a DST gap never matches and a local
  time repeated by a DST overlap matches both times.
* Order of active schedules: priority desc, specificity (device > group >
  all) desc, ``created_at`` desc, then id asc so the order is total.
* Tier 0 (override): the overrides active at ``at`` (``created_at <= at <
  until``) ordered by specificity (device > group > all) desc, ``created_at``
  desc, then id asc; the first whose playlist has a playable item plays, by
  the same item and rotation rules as tier 1. One with nothing playable falls
  through to the next, then to the schedules. Past ``until`` it never plays.
* Tier 1 (playlist): the first active schedule whose playlist has a playable
  item. An item is playable when its asset is valid at ``at``, its file is
  present (verified) and not quarantined at ``at``. Rotation is kept per
  playlist item position, ``(playlist_id, position, asset_id)``: the
  least-recently-played position wins, never-played first, ties by position.
  Keying by position (not asset) makes an asset listed twice play twice per
  round; including the asset id means an edited playlist does not inherit
  play history for a position whose asset changed.
* Tier 2 (emergency): playable assets flagged ``emergency``, candidates sorted
  by id, the asset that played last (any tier) removed when another exists,
  then ``choice(candidates)``; ``choice`` is injected so the SQL path and this
  one agree in tests.
* Tier 3: the jingle, or silence when that is the configured fallback.
* Play duration: the item's ``duration_ms`` caps any media; an image without
  one uses the asset's ``duration_ms``, else 10 s; audio/video without a cap
  play their natural length (None). Every cap is at least
  ``MIN_PLAY_DURATION_MS`` (1 s): a ``duration_ms`` of 1 must not make a box
  record (and upload, and fsync) dozens of plays a second.
* ``next_boundary_at`` is the earliest instant after ``at`` at which time
  alone might change the decision: any schedule's daypart edge (both folds of
  an ambiguous or skipped local time) or validity edge, any DST transition
  while schedules exist, any override's ``created_at`` or ``until``, any asset
  validity edge, any quarantine end. It may
  be early (the caller just decides again), never late.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from lomuz_rules.edges import daily_edges, earliest_after, schedule_edges
from lomuz_rules.model import (
    DEFAULT_IMAGE_DURATION_MS,
    MIN_PLAY_DURATION_MS,
    Asset,
    Decision,
    FileView,
    MediaType,
    Override,
    Playlist,
    PlaylistItem,
    Schedule,
    Tier,
)
from lomuz_rules.overrides import (
    order_overrides,
    override_edges,
    override_line,
    override_rejection,
    override_sort_key,
)

# Re-exported: callers know these as the schedule rules'.
__all__ = [
    "daily_edges",
    "earliest_after",
    "order_overrides",
    "override_edges",
    "override_line",
    "override_rejection",
    "override_sort_key",
    "schedule_edges",
]

Choice = Callable[[Sequence[str]], str]

MAX_ITEM_REASONS = 5


@dataclass(frozen=True)
class Catalogue:
    """Everything the rules need, as the store holds it.

    ``rotation`` maps ``(playlist_id, position, asset_id)`` to the last time
    that item started; ``last_asset_id`` is the asset that played last.
    """

    timezone: str = "UTC"
    assets: Mapping[str, Asset] = field(default_factory=dict)
    playlists: Mapping[str, Playlist] = field(default_factory=dict)
    schedules: tuple[Schedule, ...] = ()
    overrides: tuple[Override, ...] = ()
    files: Mapping[str, FileView] = field(default_factory=dict)
    rotation: Mapping[tuple[str, int, str], datetime] = field(default_factory=dict)
    last_asset_id: str | None = None


# --- small rules shared with the store -------------------------------------


def is_valid_at(valid_from: datetime | None, valid_until: datetime | None, at: datetime) -> bool:
    """``valid_from <= at < valid_until`` with open ends."""
    if valid_from is not None and at < valid_from:
        return False
    return not (valid_until is not None and at >= valid_until)


def asset_expired(asset: Asset, at: datetime) -> bool:
    """True once ``at`` reached the asset's ``valid_until`` (the janitor's test)."""
    return asset.valid_until is not None and at >= asset.valid_until


def schedule_sort_key(schedule: Schedule) -> tuple[int, int, float, str]:
    """Sort ascending with this key to get the precedence order."""
    return (
        -schedule.priority,
        -schedule.target.specificity,
        -schedule.created_at.timestamp(),
        schedule.id,
    )


def order_schedules(schedules: Iterable[Schedule]) -> list[Schedule]:
    return sorted(schedules, key=schedule_sort_key)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {at!r}")


def daypart_contains(schedule: Schedule, at: datetime, tz: ZoneInfo) -> bool:
    """Whether ``at``'s local wall-clock time lies in the schedule's daypart."""
    local = at.astimezone(tz)
    minute_us = 60_000_000
    since_midnight_us = (
        (local.hour * 60 + local.minute) * minute_us + local.second * 1_000_000 + local.microsecond
    )
    start_us = schedule.start_minute * minute_us
    end_us = schedule.end_minute * minute_us
    weekday = local.isoweekday()
    if schedule.start_minute <= schedule.end_minute:
        return weekday in schedule.days and start_us <= since_midnight_us < end_us
    # Crosses midnight: the evening part on a listed day, or the morning part
    # of the day after a listed day.
    if weekday in schedule.days and since_midnight_us >= start_us:
        return True
    previous_weekday = 7 if weekday == 1 else weekday - 1
    return previous_weekday in schedule.days and since_midnight_us < end_us


def schedule_rejection(schedule: Schedule, at: datetime, tz: ZoneInfo) -> str | None:
    """Why the schedule is not active at ``at`` (None when it is)."""
    if schedule.valid_from is not None and at < schedule.valid_from:
        return f"not valid until {_fmt(schedule.valid_from)}"
    if schedule.valid_until is not None and at >= schedule.valid_until:
        return f"expired at {_fmt(schedule.valid_until)}"
    if not daypart_contains(schedule, at, tz):
        return "outside daypart"
    return None


def item_problem(asset: Asset | None, file: FileView | None, at: datetime) -> str | None:
    """Why an item (or an emergency asset) cannot play at ``at`` (None when it can)."""
    if asset is None:
        return "asset missing"
    if asset.valid_from is not None and at < asset.valid_from:
        return f"not valid until {_fmt(asset.valid_from)}"
    if asset.valid_until is not None and at >= asset.valid_until:
        return "expired"
    if file is None or not file.present:
        return "not downloaded"
    if file.quarantined_until is not None and at < file.quarantined_until:
        reason = f" ({file.quarantine_reason})" if file.quarantine_reason else ""
        return f"quarantined until {_fmt(file.quarantined_until)}{reason}"
    return None


def play_duration_ms(asset: Asset, item: PlaylistItem | None) -> int | None:
    """The cap to apply, or None to play the natural length (PROTOCOL.md)."""
    if item is not None and item.duration_ms is not None:
        return max(MIN_PLAY_DURATION_MS, item.duration_ms)
    if asset.media_type is MediaType.IMAGE:
        if asset.duration_ms is None:
            return DEFAULT_IMAGE_DURATION_MS
        return max(MIN_PLAY_DURATION_MS, asset.duration_ms)
    return None


def pick_emergency(candidates: Sequence[str], last_asset_id: str | None, choice: Choice) -> str:
    """Choose among sorted emergency candidates, avoiding an immediate repeat."""
    pool = sorted(candidates)
    if last_asset_id in pool and len(pool) > 1:
        pool.remove(last_asset_id)
    picked = choice(pool)
    if picked not in pool:
        raise ValueError(f"choice returned {picked!r}, not one of the candidates")
    return picked


def default_choice(candidates: Sequence[str]) -> str:
    return random.choice(candidates)


def schedule_line(schedule: Schedule, text: str) -> str:
    return f"schedule {schedule.id}: {text}"


def item_line(position: int, asset_id: str, text: str) -> str:
    return f"item {position} asset {asset_id}: {text}"


def _fmt(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --- the reference decision -------------------------------------------------


def decide(
    catalogue: Catalogue,
    at: datetime,
    fallback: Tier = Tier.JINGLE,
    choice: Choice | None = None,
) -> Decision:
    """What plays at ``at`` and why, from an in-memory catalogue."""
    _require_aware(at)
    if fallback not in (Tier.JINGLE, Tier.SILENCE):
        raise ValueError(f"fallback must be jingle or silence, got {fallback}")
    tz = ZoneInfo(catalogue.timezone)
    reasons: list[str] = []

    asset_edges: list[datetime | None] = []
    for asset in catalogue.assets.values():
        asset_edges.extend((asset.valid_from, asset.valid_until))
    quarantine_edges = [f.quarantined_until for f in catalogue.files.values()]
    boundary = earliest_after(
        at,
        [
            *schedule_edges(catalogue.schedules, tz, at),
            *override_edges(catalogue.overrides, at),
            *asset_edges,
            *quarantine_edges,
        ],
    )

    for override in order_overrides(catalogue.overrides):
        rejection = override_rejection(override, at)
        if rejection is not None:
            reasons.append(override_line(override, rejection))
            continue
        found = _best_item(catalogue, override.playlist_id, at)
        if isinstance(found, str | list):
            _explain(reasons, override_line(override, ""), override.playlist_id, found)
            continue
        position, asset, item, last = found
        return override_decision(
            at,
            override,
            position,
            asset,
            item=item,
            last_played_at=last,
            reasons=reasons,
            boundary=boundary,
        )

    for schedule in order_schedules(catalogue.schedules):
        rejection = schedule_rejection(schedule, at, tz)
        if rejection is not None:
            reasons.append(schedule_line(schedule, rejection))
            continue
        found = _best_item(catalogue, schedule.playlist_id, at)
        if isinstance(found, str | list):
            _explain(reasons, schedule_line(schedule, ""), schedule.playlist_id, found)
            continue
        position, asset, item, last = found
        return playlist_decision(
            at,
            schedule,
            position,
            asset,
            item=item,
            last_played_at=last,
            reasons=reasons,
            boundary=boundary,
        )

    if not catalogue.schedules:
        reasons.append("no schedules")
    candidates: list[str] = []
    for asset in sorted(catalogue.assets.values(), key=lambda a: a.id):
        if not asset.emergency:
            continue
        if item_problem(asset, catalogue.files.get(asset.sha256), at) is None:
            candidates.append(asset.id)
    return fallback_decision(
        at,
        emergency_candidates=candidates,
        get_asset=catalogue.assets.get,
        last_asset_id=catalogue.last_asset_id,
        fallback=fallback,
        choice=choice or default_choice,
        reasons=reasons,
        boundary=boundary,
    )


_Picked = tuple[int, Asset, PlaylistItem, datetime | None]


def _best_item(catalogue: Catalogue, playlist_id: str, at: datetime) -> _Picked | str | list[str]:
    """The playlist's item to play at ``at`` (position, asset, item, last play); else
    "empty" for a missing or empty playlist, or the items' problems."""
    playlist = catalogue.playlists.get(playlist_id)
    if playlist is None or not playlist.items:
        return "empty"
    best: tuple[tuple[bool, datetime, int], int, Asset] | None = None
    problems: list[str] = []
    for position, item in enumerate(playlist.items):
        maybe_asset = catalogue.assets.get(item.asset_id)
        file = catalogue.files.get(maybe_asset.sha256) if maybe_asset is not None else None
        problem = item_problem(maybe_asset, file, at)
        if problem is not None or maybe_asset is None:
            problems.append(item_line(position, item.asset_id, problem or "asset missing"))
            continue
        last = catalogue.rotation.get((playlist.id, position, item.asset_id))
        key = (last is not None, last if last is not None else at, position)
        if best is None or key < best[0]:
            best = (key, position, maybe_asset)
    if best is None:
        return problems
    _, position, asset = best
    item = playlist.items[position]
    return position, asset, item, catalogue.rotation.get((playlist.id, position, item.asset_id))


def _explain(reasons: list[str], prefix: str, playlist_id: str, found: str | list[str]) -> None:
    """The reason lines of a schedule or override (``prefix``) whose playlist cannot play."""
    if isinstance(found, str):
        reasons.append(f"{prefix}playlist {playlist_id} is empty")
        return
    reasons.append(f"{prefix}no playable item in playlist {playlist_id}")
    reasons.extend(found[:MAX_ITEM_REASONS])


def override_decision(
    at: datetime,
    override: Override,
    position: int,
    asset: Asset,
    *,
    item: PlaylistItem,
    last_played_at: datetime | None,
    reasons: list[str],
    boundary: datetime | None,
) -> Decision:
    """The tier-0 decision for the chosen item of an active override's playlist."""
    line = override_line(
        override,
        f"active until {_fmt(override.until)}, "
        f"{override.target.value}, playlist {override.playlist_id}",
    )
    return _item_decision(
        at,
        Tier.OVERRIDE,
        line,
        schedule_id=None,
        playlist_id=override.playlist_id,
        position=position,
        asset=asset,
        item=item,
        last_played_at=last_played_at,
        reasons=reasons,
        boundary=boundary,
    )


def playlist_decision(
    at: datetime,
    schedule: Schedule,
    position: int,
    asset: Asset,
    *,
    item: PlaylistItem,
    last_played_at: datetime | None,
    reasons: list[str],
    boundary: datetime | None,
) -> Decision:
    """The tier-1 decision for the chosen item, with its two reason lines."""
    line = schedule_line(
        schedule,
        f"active, priority {schedule.priority}, "
        f"{schedule.target.value}, playlist {schedule.playlist_id}",
    )
    return _item_decision(
        at,
        Tier.PLAYLIST,
        line,
        schedule_id=schedule.id,
        playlist_id=schedule.playlist_id,
        position=position,
        asset=asset,
        item=item,
        last_played_at=last_played_at,
        reasons=reasons,
        boundary=boundary,
    )


def _item_decision(
    at: datetime,
    tier: Tier,
    source_line: str,
    *,
    schedule_id: str | None,
    playlist_id: str,
    position: int,
    asset: Asset,
    item: PlaylistItem,
    last_played_at: datetime | None,
    reasons: list[str],
    boundary: datetime | None,
) -> Decision:
    """An item of a playlist chosen by an override or a schedule: the source's reason
    line, then the item's."""
    reasons.append(source_line)
    reasons.append(item_line(position, asset.id, rotation_text(last_played_at)))
    return Decision(
        at=at,
        tier=tier,
        asset_id=asset.id,
        sha256=asset.sha256,
        media_type=asset.media_type,
        loudness_lufs=asset.loudness_lufs,
        true_peak_dbtp=asset.true_peak_dbtp,
        schedule_id=schedule_id,
        playlist_id=playlist_id,
        play_duration_ms=play_duration_ms(asset, item),
        reasons=tuple(reasons),
        next_boundary_at=boundary,
        playlist_position=position,
    )


def rotation_text(last: datetime | None) -> str:
    """The reason line's text for the chosen item."""
    if last is None:
        return "chosen, never played"
    return f"chosen, least recently played (last {_fmt(last)})"


def fallback_decision(
    at: datetime,
    *,
    emergency_candidates: Sequence[str],
    get_asset: Callable[[str], Asset | None],
    last_asset_id: str | None,
    fallback: Tier,
    choice: Choice,
    reasons: list[str],
    boundary: datetime | None,
) -> Decision:
    """Tiers 2 and 3, shared by the reference and the store."""
    if emergency_candidates:
        asset_id = pick_emergency(emergency_candidates, last_asset_id, choice)
        asset = get_asset(asset_id)
        if asset is None:
            raise LookupError(f"emergency asset {asset_id} vanished")
        reasons.append(
            f"emergency asset {asset_id}: chosen among {len(emergency_candidates)} playable"
        )
        return Decision(
            at=at,
            tier=Tier.EMERGENCY,
            asset_id=asset.id,
            sha256=asset.sha256,
            media_type=asset.media_type,
            loudness_lufs=asset.loudness_lufs,
            true_peak_dbtp=asset.true_peak_dbtp,
            schedule_id=None,
            playlist_id=None,
            play_duration_ms=play_duration_ms(asset, None),
            reasons=tuple(reasons),
            next_boundary_at=boundary,
        )
    reasons.append("no playable emergency asset")
    reasons.append(f"fallback: {fallback.value}")
    return Decision(
        at=at,
        tier=fallback,
        asset_id=None,
        sha256=None,
        media_type=None,
        schedule_id=None,
        playlist_id=None,
        play_duration_ms=None,
        reasons=tuple(reasons),
        next_boundary_at=boundary,
    )
