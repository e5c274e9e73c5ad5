"""Download priority and disk-budget rules (DESIGN.md §3.4). Pure: no I/O, no clock.

Priority classes, best first:

    0 ACTIVE     a file used by a playlist that is active now
    1 EMERGENCY  a file of an emergency asset
    2 UPCOMING   a file used by a schedule that starts later; soonest start first
    3 OTHER      anything else the catalogue references

A file takes the best class any of its uses gives it. Within a class the order
is: (class 2 only) earliest next start, then smaller files first (something
becomes playable sooner), then sha256, so the order is total and stable.
Files already present are left out.

Disk budget:
- Only files that are neither referenced nor scheduled are ever evicted,
  least recently played first (never played = oldest), ties by sha256.
- We evict only what is needed to bring the cache under ``max_cache_bytes``
  and keep ``min_free_bytes`` free on the filesystem, counting the bytes of the
  downloads still to come. If evicting every candidate is not enough, all of
  them go and ``shortfall_bytes`` says what is still missing.
- ``storage_full`` is true iff the scheduled set (scheduled files in the cache
  plus scheduled files still to download) is larger than the capacity: the
  smaller of ``max_cache_bytes`` and what the filesystem could hold for the
  cache (cache bytes + free bytes - min_free_bytes).

Media origins: a file is fetched only from the API's origin or an ``[api]
media_origins`` entry (``media_url_problem``); plain http:// only to loopback
unless allowed (``insecure_http_problem``).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from lomuz_rules.schedule import Catalogue, schedule_edges, schedule_rejection


class PriorityClass(enum.IntEnum):
    ACTIVE = 0
    EMERGENCY = 1
    UPCOMING = 2
    OTHER = 3


@dataclass(frozen=True)
class NeededFile:
    """A file the catalogue references, with who uses it."""

    sha256: str
    size_bytes: int
    url: str
    asset_ids: tuple[str, ...]
    playlist_ids: frozenset[str] = frozenset()
    emergency: bool = False


@dataclass(frozen=True)
class DownloadTask:
    """One entry of the ordered download queue."""

    sha256: str
    size_bytes: int
    url: str
    asset_ids: tuple[str, ...]
    priority: PriorityClass
    starts_at: datetime | None  # the soonest schedule start that needs it (class 2)


@dataclass(frozen=True)
class FetchResult:
    """What one fetch left in the cache (``player.ports.MediaFetcher.fetch``)."""

    sha256: str
    path: Path
    size_bytes: int
    transferred_bytes: int  # body bytes received over the network by this call
    resumed: bool  # a 206 continued an existing partial file
    already_cached: bool


def download_order(
    needed: Iterable[NeededFile],
    *,
    active_playlist_ids: Collection[str],
    next_start_by_playlist: Mapping[str, datetime],
    present: Collection[str] = frozenset(),
) -> list[DownloadTask]:
    """Order the files to download by the priority rules above.

    ``active_playlist_ids``: playlists of the schedules active now.
    ``next_start_by_playlist``: for each playlist, the soonest future start of a
    schedule using it (tz-aware; computed by the caller, e.g. from
    lomuz_rules.schedule). ``present``: sha256s already in the cache.
    The same sha256 listed twice is merged (one file, several uses).
    """
    merged: dict[str, NeededFile] = {}
    for need in needed:
        if need.size_bytes < 0:
            raise ValueError(f"{need.sha256}: size_bytes must be >= 0")
        previous = merged.get(need.sha256)
        if previous is None:
            merged[need.sha256] = need
            continue
        if previous.size_bytes != need.size_bytes:
            raise ValueError(
                f"{need.sha256}: listed with sizes {previous.size_bytes} and {need.size_bytes}"
            )
        merged[need.sha256] = NeededFile(
            sha256=need.sha256,
            size_bytes=need.size_bytes,
            url=previous.url,
            asset_ids=previous.asset_ids
            + tuple(a for a in need.asset_ids if a not in previous.asset_ids),
            playlist_ids=previous.playlist_ids | need.playlist_ids,
            emergency=previous.emergency or need.emergency,
        )
    for at in next_start_by_playlist.values():
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("schedule start instants must be timezone-aware")

    active = frozenset(active_playlist_ids)
    tasks: list[DownloadTask] = []
    for need in merged.values():
        if need.sha256 in present:
            continue
        starts = [
            next_start_by_playlist[p] for p in need.playlist_ids if p in next_start_by_playlist
        ]
        starts_at = min(starts) if starts else None
        if need.playlist_ids & active:
            priority = PriorityClass.ACTIVE
        elif need.emergency:
            priority = PriorityClass.EMERGENCY
        elif starts_at is not None:
            priority = PriorityClass.UPCOMING
        else:
            priority = PriorityClass.OTHER
        tasks.append(
            DownloadTask(
                sha256=need.sha256,
                size_bytes=need.size_bytes,
                url=need.url,
                asset_ids=need.asset_ids,
                priority=priority,
                starts_at=starts_at if priority is PriorityClass.UPCOMING else None,
            )
        )
    tasks.sort(key=_task_key)
    return tasks


def _task_key(task: DownloadTask) -> tuple[int, float, int, str]:
    start_key = task.starts_at.timestamp() if task.starts_at is not None else 0.0
    return (task.priority, start_key, task.size_bytes, task.sha256)


# -- disk budget --------------------------------------------------------------


@dataclass(frozen=True)
class CachedFile:
    """A file in the cache, as the budget rules see it."""

    sha256: str
    size_bytes: int
    last_played_at: datetime | None
    referenced: bool  # some asset of the current catalogue uses it
    scheduled: bool  # a schedule (now or later) needs it: never evicted


@dataclass(frozen=True)
class DiskBudget:
    """Limits and the filesystem's state now. ``max_cache_bytes`` None = no cap."""

    max_cache_bytes: int | None
    min_free_bytes: int
    free_bytes: int
    pending_bytes: int = 0  # still to download (any class)
    pending_scheduled_bytes: int = 0  # the scheduled part of pending_bytes

    def __post_init__(self) -> None:
        for name in ("min_free_bytes", "free_bytes", "pending_bytes", "pending_scheduled_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.max_cache_bytes is not None and self.max_cache_bytes < 0:
            raise ValueError("max_cache_bytes must be >= 0")
        if self.pending_scheduled_bytes > self.pending_bytes:
            raise ValueError("pending_scheduled_bytes cannot exceed pending_bytes")


@dataclass(frozen=True)
class EvictionPlan:
    evict: tuple[str, ...]  # sha256s, in eviction order
    freed_bytes: int
    needed_bytes: int  # how much had to be freed
    shortfall_bytes: int  # still missing after evicting everything allowed
    scheduled_bytes: int  # the scheduled set, cached + pending
    capacity_bytes: int  # the most the cache may hold
    storage_full: bool


def is_evictable(file: CachedFile) -> bool:
    return not file.referenced and not file.scheduled


def eviction_candidates(files: Iterable[CachedFile]) -> list[CachedFile]:
    """Evictable files, least recently played first (never played first of all)."""
    candidates = [f for f in files if is_evictable(f)]
    candidates.sort(
        key=lambda f: (
            f.last_played_at is not None,
            f.last_played_at.timestamp() if f.last_played_at is not None else 0.0,
            f.sha256,
        )
    )
    return candidates


def plan_eviction(files: Iterable[CachedFile], budget: DiskBudget) -> EvictionPlan:
    """Which files to delete to honour ``budget``, and whether the scheduled set fits."""
    files = list(files)
    seen: set[str] = set()
    for f in files:
        if f.size_bytes < 0:
            raise ValueError(f"{f.sha256}: size_bytes must be >= 0")
        if f.sha256 in seen:
            raise ValueError(f"{f.sha256}: listed twice")
        seen.add(f.sha256)
        if f.last_played_at is not None and f.last_played_at.utcoffset() is None:
            raise ValueError(f"{f.sha256}: last_played_at must be timezone-aware")

    cache_bytes = sum(f.size_bytes for f in files)
    needed = max(0, budget.min_free_bytes - (budget.free_bytes - budget.pending_bytes))
    if budget.max_cache_bytes is not None:
        needed = max(needed, cache_bytes + budget.pending_bytes - budget.max_cache_bytes)

    evict: list[str] = []
    freed = 0
    for f in eviction_candidates(files):
        if freed >= needed:
            break
        evict.append(f.sha256)
        freed += f.size_bytes

    scheduled = sum(f.size_bytes for f in files if f.scheduled) + budget.pending_scheduled_bytes
    capacity = max(0, cache_bytes + budget.free_bytes - budget.min_free_bytes)
    if budget.max_cache_bytes is not None:
        capacity = min(capacity, budget.max_cache_bytes)
    return EvictionPlan(
        evict=tuple(evict),
        freed_bytes=freed,
        needed_bytes=needed,
        shortfall_bytes=max(0, needed - freed),
        scheduled_bytes=scheduled,
        capacity_bytes=capacity,
        storage_full=scheduled > capacity,
    )


# -- what the catalogue needs ----------------------------------------------------


@dataclass(frozen=True)
class CatalogueNeeds:
    """The download manager's view of a catalogue at one instant."""

    needed: tuple[NeededFile, ...]
    active_playlist_ids: frozenset[str]
    next_start_by_playlist: Mapping[str, datetime]
    scheduled_sha256s: frozenset[str]  # files a live or future schedule needs, or emergency


def catalogue_needs(catalogue: Catalogue, at: datetime) -> CatalogueNeeds:
    """Every referenced file with its users, the playlists active at ``at`` and
    the next start of every other schedule's playlist (within the boundary horizon)."""
    tz = ZoneInfo(catalogue.timezone)
    playlists_by_asset: dict[str, set[str]] = {}
    live_playlists: set[str] = set()
    active: set[str] = set()
    next_start: dict[str, datetime] = {}
    for schedule in catalogue.schedules:
        if schedule.valid_until is not None and schedule.valid_until <= at:
            continue
        live_playlists.add(schedule.playlist_id)
        if schedule_rejection(schedule, at, tz) is None:
            active.add(schedule.playlist_id)
            continue
        for edge in sorted(schedule_edges([schedule], tz, at)):
            if schedule_rejection(schedule, edge, tz) is None:
                previous = next_start.get(schedule.playlist_id)
                if previous is None or edge < previous:
                    next_start[schedule.playlist_id] = edge
                break
    for override in catalogue.overrides:  # an override's playlist plays above all, now
        if override.until <= at:
            continue
        live_playlists.add(override.playlist_id)
        if override.is_active_at(at):
            active.add(override.playlist_id)
        elif override.created_at < next_start.get(override.playlist_id, override.until):
            next_start[override.playlist_id] = override.created_at
    for playlist in catalogue.playlists.values():
        for item in playlist.items:
            playlists_by_asset.setdefault(item.asset_id, set()).add(playlist.id)
    needed: list[NeededFile] = []
    scheduled: set[str] = set()
    for asset in catalogue.assets.values():
        users = frozenset(playlists_by_asset.get(asset.id, ()))
        if asset.emergency or users & live_playlists:
            scheduled.add(asset.sha256)
        needed.append(
            NeededFile(
                sha256=asset.sha256,
                size_bytes=asset.size_bytes,
                url=asset.url,
                asset_ids=(asset.id,),
                playlist_ids=users,
                emergency=asset.emergency,
            )
        )
    return CatalogueNeeds(
        needed=tuple(needed),
        active_playlist_ids=frozenset(active),
        next_start_by_playlist=next_start,
        scheduled_sha256s=frozenset(scheduled),
    )


# -- where media may come from ----------------------------------------------------
#
# A manifest asset's ``url`` is absolute or a path on the API base URL
# (PROTOCOL.md). A hostile or broken API must not make a box fetch from anywhere:
# only the API's own origin and the configured ``[api] media_origins`` are used.
# An origin is (scheme, lower-case host, port), the default port filled in, so
# ``https://CDN.example`` and ``https://cdn.example:443/`` are one origin.

Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}
INSECURE_HTTP_TEXT = (
    "must use https:// for a host that is not loopback (plain http:// carries the "
    "device token and enrollment code in clear)"
)


def url_origin(url: str) -> Origin | None:
    """The origin of an absolute http(s) URL; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower().removesuffix("."), port or DEFAULT_PORTS[scheme]


def origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port == DEFAULT_PORTS[scheme] else f"{scheme}://{shown}:{port}"


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1`` (brackets and a zone id allowed)."""
    name = host.strip("[]").lower().removesuffix(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def insecure_http_problem(url: str) -> str | None:
    """Why ``url`` must not be used without ``allow_insecure_http``; None when it may.

    Plain http:// is refused unless the host is loopback (a local API or an SSH
    tunnel); https:// and anything that is not an http(s) URL pass (other
    checks judge those).
    """
    origin = url_origin(url)
    if origin is None or origin[0] != "http" or is_loopback_host(origin[1]):
        return None
    return INSECURE_HTTP_TEXT


def media_url_problem(
    url: str, *, api_origin: Origin, media_origins: Collection[Origin]
) -> str | None:
    """Why an (absolute) media URL must not be fetched; None when its origin is allowed."""
    origin = url_origin(url)
    if origin is None:
        return "not an absolute http(s) URL"
    if origin == api_origin or origin in media_origins:
        return None
    allowed = ", ".join(origin_text(o) for o in (api_origin, *sorted(media_origins)))
    return (
        f"its origin {origin_text(origin)} is neither the API's nor in "
        f"[api] media_origins (allowed: {allowed})"
    )
