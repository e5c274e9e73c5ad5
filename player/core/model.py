"""Value types of the player alone (the manifest, the plays it records).

The catalogue types and the decision are shared with the control API and live
in :mod:`lomuz_rules.model`. All frozen; all instants are tz-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from lomuz_rules.model import Asset, Decision, Override, Playlist, Schedule, Tier


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    SKIPPED = "skipped"
    ERROR = "error"


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
    overrides: tuple[str, ...] = ()


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
    # Additive (PROTOCOL.md: overrides): a server that predates them sends none.
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class ItemStart:
    """An item of ``decision`` that started at ``started_at`` (what rotation advances on).

    ``play_id`` is the id its Play will have; ``planned_end_at`` its projected end.
    """

    decision: Decision
    asset_id: str
    sha256: str
    started_at: datetime
    play_id: str
    planned_end_at: datetime


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
