"""The wire models of the manifest: field types and bounds, declared once as msgspec structs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from msgspec import UNSET, Meta, Struct, UnsetType

from lomuz_rules.model import MediaType, TargetKind

SCHEMA_MAJOR = 1
MAX_PLAYS_PER_UPLOAD = 1000
# SQLite stores 64-bit signed integers; a larger number must be a ManifestError,
# not an OverflowError halfway through applying the manifest.
MAX_WIRE_INT = 2**63 - 1
MAX_EXACT_INT = 2**53 - 1
MIN_SYNC_INTERVAL_S = 10
MAX_SYNC_INTERVAL_S = 7 * 24 * 3600
MAX_DURATION_MS = 7 * 24 * 3600 * 1000
MAX_CROSSFADE_MS = 10_000
MIN_PRIORITY, MAX_PRIORITY = -(2**31), 2**31 - 1
MIN_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive

# ASCII digits only ([0-9], not \d which takes any Unicode digit); \Z, not $, which
# would also match before a trailing newline (msgspec patterns are re.search).
_RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
_TIME_OF_DAY = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]\Z"
_END_TIME_OF_DAY = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)\Z"
_RFC3339_RE = re.compile(_RFC3339)
_TIME_OF_DAY_RE = re.compile(_TIME_OF_DAY)
_END_TIME_OF_DAY_RE = re.compile(_END_TIME_OF_DAY)
_ALL_DAYS = frozenset(range(1, 8))
_SHA256_TEXT = "64 lowercase hex digits"
_HEX_DIGITS = b"0123456789abcdef"
_INSTANT_TEXT = "an RFC 3339 instant with a zone (2026-12-01T09:00:00Z)"
_START_TEXT = 'a time of day "00:00".."23:59"'
_END_TEXT = 'a time of day "00:00".."24:00"'

# --- The wire models: types and bounds, declared once ------------------------
# ``description`` is the complaint's wording ("must be <description>, got ...").
_Schema = Annotated[
    int, Meta(ge=-MAX_WIRE_INT, le=MAX_WIRE_INT, description="an integer within 64 bits")
]
_Id = Annotated[str, Meta(min_length=1)]
# The hex digits of a sha256 are checked for all assets at once, and an instant's
# format when it is parsed (once per distinct text): a msgspec pattern runs a
# Python regex per string, 0.1 s of msgspec's 0.24 s at 100k assets.
_Sha256 = Annotated[str, Meta(min_length=64, max_length=64, description=_SHA256_TEXT)]
_Instant = Annotated[str, Meta(description=_INSTANT_TEXT)]
_StartTime = Annotated[str, Meta(pattern=_TIME_OF_DAY, description=_START_TEXT)]
_EndTime = Annotated[str, Meta(pattern=_END_TIME_OF_DAY, description=_END_TEXT)]
_ExactCount = Annotated[int, Meta(ge=0, le=MAX_EXACT_INT)]
_DurationMs = Annotated[int, Meta(ge=0, le=MAX_DURATION_MS)]
_CrossfadeMs = Annotated[int, Meta(ge=0, le=MAX_CROSSFADE_MS)]
_Priority = Annotated[int, Meta(ge=MIN_PRIORITY, le=MAX_PRIORITY)]
_SyncIntervalS = Annotated[int, Meta(ge=MIN_SYNC_INTERVAL_S, le=MAX_SYNC_INTERVAL_S)]
_Weekday = Annotated[int, Meta(ge=1, le=7, description="an ISO weekday 1..7")]
# Measurements (EBU R128): an int is a number too; bounds wide enough for any
# real file (ffmpeg's ebur128 floors silence at -70 LUFS), finite by nature of JSON.
MIN_LOUDNESS_LUFS, MAX_LOUDNESS_LUFS = -200.0, 50.0
MIN_TRUE_PEAK_DBTP, MAX_TRUE_PEAK_DBTP = -400.0, 50.0
_LoudnessLufs = Annotated[
    float,
    Meta(
        ge=MIN_LOUDNESS_LUFS,
        le=MAX_LOUDNESS_LUFS,
        description=f"a loudness in LUFS {MIN_LOUDNESS_LUFS:g}..{MAX_LOUDNESS_LUFS:g}",
    ),
]
_TruePeakDbtp = Annotated[
    float,
    Meta(
        ge=MIN_TRUE_PEAK_DBTP,
        le=MAX_TRUE_PEAK_DBTP,
        description=f"a true peak in dBTP {MIN_TRUE_PEAK_DBTP:g}..{MAX_TRUE_PEAK_DBTP:g}",
    ),
]


# gc=False: these hold only strings, numbers and other such structs (no cycles),
# so the collector need not track 100k of them.
class _AssetWire(Struct, gc=False):
    id: _Id
    sha256: _Sha256
    size: _ExactCount
    media_type: MediaType
    url: _Id
    content_type: str | None = None
    title: str | None = None
    duration_ms: _DurationMs | None = None
    valid_from: _Instant | None = None
    valid_until: _Instant | None = None
    emergency: bool | None = None
    # Added with issue 14 (measured at ingest); absent or null: not measured.
    loudness_lufs: _LoudnessLufs | None = None
    true_peak_dbtp: _TruePeakDbtp | None = None
    cue_in_ms: _DurationMs | None = None
    cue_out_ms: _DurationMs | None = None


class _ItemWire(Struct, gc=False):
    asset_id: _Id
    duration_ms: _DurationMs | None = None


class _PlaylistWire(Struct, gc=False):
    id: _Id
    items: list[_ItemWire]
    version: _ExactCount
    name: str | None = None
    # Stored; not applied by the player yet (crossfades are a later part of issue 14).
    crossfade_ms: _CrossfadeMs | None = None


class _ScheduleWire(Struct, gc=False):
    id: _Id
    playlist_id: _Id
    target: TargetKind
    created_at: _Instant
    version: _ExactCount
    priority: _Priority | None = None
    # Absent means every day; present but null or empty names no day (refused).
    days: list[_Weekday] | UnsetType | None = UNSET
    start_time: _StartTime | None = None
    end_time: _EndTime | None = None
    valid_from: _Instant | None = None
    valid_until: _Instant | None = None


class _OverrideWire(Struct, gc=False):
    id: _Id
    playlist_id: _Id
    target: TargetKind
    until: _Instant
    created_at: _Instant


class _DeviceWire(Struct, gc=False):
    id: _Id
    name: str | None = None
    timezone: str | None = None
    groups: list[str] | None = None


class _DeletedWire(Struct, gc=False):
    assets: list[str] | None = None
    playlists: list[str] | None = None
    schedules: list[str] | None = None
    overrides: list[str] | None = None


class _ManifestWire(Struct):
    schema: _Schema
    cursor: str
    full: bool
    server_time: _Instant
    sync_interval_s: _SyncIntervalS
    device: _DeviceWire
    # Absent or null is an empty list in a delta; a full manifest must carry all three.
    assets: list[_AssetWire] | UnsetType | None = UNSET
    playlists: list[_PlaylistWire] | UnsetType | None = UNSET
    schedules: list[_ScheduleWire] | UnsetType | None = UNSET
    # Added after the first servers: absent (even in a full manifest) is none.
    overrides: list[_OverrideWire] | None = None
    # Read only in a delta (a full manifest's "deleted" carries no meaning), so
    # kept generic here and converted to _DeletedWire then.
    deleted: Any = None


_W = TypeVar("_W", bound=Struct)
