"""Value types shared by every layer of the player.

These are the decoded form of the wire format (PROTOCOL.md) plus the records the
player produces (plays, decisions). All frozen; all instants are tz-aware UTC.
Times of day are local to the device's time zone and carried as minutes since
local midnight: ``end_minute`` may be 1440 ("24:00").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class MediaType(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    IMAGE = "image"


class Tier(enum.StrEnum):
    """Where a decision came from, best first."""

    PLAYLIST = "playlist"
    EMERGENCY = "emergency"
    JINGLE = "jingle"
    SILENCE = "silence"


class TargetKind(enum.StrEnum):
    """How a schedule reaches the device; the order is specificity, highest first."""

    DEVICE = "device"
    GROUP = "group"
    ALL = "all"

    @property
    def specificity(self) -> int:
        return {TargetKind.DEVICE: 2, TargetKind.GROUP: 1, TargetKind.ALL: 0}[self]


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    SKIPPED = "skipped"
    ERROR = "error"


DEFAULT_IMAGE_DURATION_MS = 10_000
MIN_PLAY_DURATION_MS = 1_000  # the shortest cap an item gets, whatever it asks
MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    sha256: str
    size_bytes: int
    media_type: MediaType
    content_type: str
    title: str
    duration_ms: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    emergency: bool
    url: str

    def is_valid_at(self, at: datetime) -> bool:
        """``valid_from <= at < valid_until``, open ends allowed."""
        if self.valid_from is not None and at < self.valid_from:
            return False
        return not (self.valid_until is not None and at >= self.valid_until)


@dataclass(frozen=True, slots=True)
class PlaylistItem:
    asset_id: str
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Playlist:
    id: str
    name: str
    items: tuple[PlaylistItem, ...]
    version: int


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    playlist_id: str
    target: TargetKind
    priority: int
    days: frozenset[int]  # ISO weekdays 1..7
    start_minute: int  # 0..1439, local
    end_minute: int  # 0..1440, local; < start_minute crosses midnight
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    name: str
    timezone: str
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Deleted:
    assets: tuple[str, ...] = ()
    playlists: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    schema: int
    cursor: str
    full: bool
    server_time: datetime
    sync_interval_s: int
    device: DeviceInfo
    assets: tuple[Asset, ...]
    playlists: tuple[Playlist, ...]
    schedules: tuple[Schedule, ...]
    deleted: Deleted = field(default_factory=Deleted)


@dataclass(frozen=True)
class Play:
    """One proof-of-play record (PROTOCOL.md "Play")."""

    id: str
    asset_id: str
    sha256: str
    started_at: datetime
    ended_at: datetime
    source: Tier
    outcome: Outcome
    schedule_id: str | None = None
    playlist_id: str | None = None
    # The decision's index in its playlist, so rotation advances that position
    # (an asset listed twice); local only: not on the wire, not stored.
    playlist_position: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    """What plays next and why (the output of ``lomuz-player next``).

    ``asset_id``/``sha256`` are None for the jingle and silence tiers.
    ``play_duration_ms`` is the cap to apply (item's, else asset's for images,
    else the image default), or None to play the natural length.
    ``next_boundary_at`` is the next instant the decision could change by time
    alone (a daypart or validity edge), or None when none is known.
    """

    at: datetime
    tier: Tier
    asset_id: str | None
    sha256: str | None
    media_type: MediaType | None
    schedule_id: str | None
    playlist_id: str | None
    play_duration_ms: int | None
    reasons: tuple[str, ...]
    next_boundary_at: datetime | None = None
    # Index of the chosen item in its playlist (tier playlist only); rotation
    # is kept per position so an asset listed twice plays twice per round.
    playlist_position: int | None = None
