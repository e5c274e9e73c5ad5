"""The catalogue the schedule rules read, and the decision they produce.

The decoded form of the wire format's catalogue (PROTOCOL.md: assets,
playlists, schedules), which the control API builds from its database too.
All frozen; all instants are tz-aware UTC. Times of day are local to the
device's time zone and carried as minutes since local midnight:
``end_minute`` may be 1440 ("24:00").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class MediaType(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    IMAGE = "image"


class Tier(enum.StrEnum):
    """Where a decision came from, best first."""

    OVERRIDE = "override"
    PLAYLIST = "playlist"
    EMERGENCY = "emergency"
    JINGLE = "jingle"
    SILENCE = "silence"


# The tiers that play a playlist in order: rotation advances for their plays.
PLAYLIST_TIERS = frozenset({Tier.OVERRIDE, Tier.PLAYLIST})


class TargetKind(enum.StrEnum):
    """How a schedule reaches the device; the order is specificity, highest first."""

    DEVICE = "device"
    GROUP = "group"
    ALL = "all"

    @property
    def specificity(self) -> int:
        return {TargetKind.DEVICE: 2, TargetKind.GROUP: 1, TargetKind.ALL: 0}[self]


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
    # Measured by the API at ingest (EBU R128 integrated loudness, true peak,
    # cue points); None until measured (or by an API that does not measure).
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    cue_in_ms: int | None = None
    cue_out_ms: int | None = None

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
    crossfade_ms: int = 0


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
class Override:
    """ "Play this playlist here now, until ``until``" (PROTOCOL.md, overrides).

    Active at ``at`` when ``created_at <= at < until``; it then plays above every
    schedule (tier ``override``).
    """

    id: str
    playlist_id: str
    target: TargetKind
    until: datetime
    created_at: datetime

    def is_active_at(self, at: datetime) -> bool:
        return self.created_at <= at < self.until


class FileView(Protocol):
    """What the rules read of a media file (by sha256): the player's cache index
    entry (``player.core.files.FileState``) is one, :class:`FilePresence` another."""

    @property
    def present(self) -> bool: ...

    @property
    def quarantined_until(self) -> datetime | None: ...

    @property
    def quarantine_reason(self) -> str | None: ...


@dataclass(frozen=True)
class FilePresence:
    """A file's state as a caller without a cache states it (the API's preview)."""

    present: bool = True
    quarantined_until: datetime | None = None
    quarantine_reason: str | None = None


PRESENT = FilePresence()


def every_file_present(assets: Iterable[Asset]) -> dict[str, FileView]:
    """The files mapping of a catalogue in which every asset's file is present."""
    return {asset.sha256: PRESENT for asset in assets}


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
    # The chosen asset's measured loudness (None: unmeasured, or no asset):
    # what the player's gain rule (player.core.loudness) needs.
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
