"""The API's request and response objects (PROTOCOL.md), declared once as msgspec structs.

The same classes validate request bodies (``control_api.resources.bodies``),
encode answers (``control_api.wire``) and make the served document's
``components/schemas`` (``control_api.openapi``): a field added here appears in
all three at once. Struct names are the component names.

Requests are closed (``forbid_unknown_fields``: the API rejects unknown fields)
and carry every rule a field can state alone in ``Meta``; what spans fields or
needs the world (a window's order, a known time zone, a target's single key)
stays in ``control_api.core.validation``. Responses name every field as
required and leave ``additionalProperties`` open (fields may be added without
a new major). Instants are strings here: ``core.validation`` parses them (its
range and offset rules) and formats them (UTC, ``Z``).

Why msgspec: docs/BENCHMARKS.md, "Manifest library: msgspec or pydantic v2".
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from control_api.core import validation as v
from control_api.core.plays import ECHO_ID_CHARS, OUTCOMES, SOURCES
from control_api.model_fields import (
    CODE_PATTERN,
    MAX_PLAYLIST_ITEMS,
    MAX_PLAYS_PER_UPLOAD,
    Count,
    Crossfade,
    Days,
    DaysIn,
    Duration,
    DurationIn,
    EndTime,
    GroupName,
    Groups,
    Instant,
    InstantIn,
    Name,
    NextPage,
    ObjectId,
    PlayRef,
    Priority,
    Sha256,
    StartTime,
    Timezone,
)
from control_api.models_assets import Asset, AssetMeasurement, ManifestAsset
from control_api.models_commands import (
    Command,
    CommandAck,
    CommandInput,
    CommandList,
    CommandPage,
    PushCredentials,
)
from control_api.models_presence import DevicePresence, PresenceEvent, PresenceEventList
from control_api.models_webhooks import (
    Delivery,
    DeliveryList,
    Webhook,
    WebhookCreated,
    WebhookInput,
    WebhookList,
)

# ---------------------------------------------------------------- shared


class Target(Struct, forbid_unknown_fields=True):
    """Where a schedule plays: exactly one of `device_id`, `group` or `all` (true)."""

    device_id: ObjectId | UnsetType = UNSET
    group: GroupName | UnsetType = UNSET
    # A bool (true alone is valid): generators read a const where they refuse an enum
    # of booleans; ``core.validation.parse_target`` refuses false.
    all: Annotated[bool, Meta(extra_json_schema={"const": True})] | UnsetType = UNSET


# What a component needs beyond its fields (a struct states no rule across them):
# merged into the generated schema. The rule itself is core.validation's.
SCHEMA_EXTRAS: dict[str, dict[str, Any]] = {
    "Target": {"minProperties": 1, "maxProperties": 1},
}

# ---------------------------------------------------------------- requests


class AssetPatch(Struct, forbid_unknown_fields=True):
    """The asset's editable metadata; absent fields are left as they are."""

    title: Name | UnsetType | None = UNSET
    emergency: bool | UnsetType = UNSET
    valid_from: InstantIn | UnsetType | None = UNSET
    valid_until: InstantIn | UnsetType | None = UNSET
    duration_ms: DurationIn | UnsetType | None = UNSET


class PlaylistItemInput(Struct, forbid_unknown_fields=True):
    asset_id: ObjectId
    duration_ms: DurationIn | None = None


class PlaylistInput(Struct, forbid_unknown_fields=True):
    name: Name
    items: Annotated[list[PlaylistItemInput], Meta(max_length=MAX_PLAYLIST_ITEMS)]
    crossfade_ms: Crossfade = 0


class DeviceInput(Struct, forbid_unknown_fields=True):
    name: Name
    timezone: Timezone = "UTC"
    groups: Groups = msgspec.field(default_factory=list)


class DevicePatch(Struct, forbid_unknown_fields=True):
    """Absent fields are left as they are."""

    name: Name | UnsetType = UNSET
    timezone: Timezone | UnsetType = UNSET
    groups: Groups | UnsetType = UNSET


class ScheduleInput(Struct, forbid_unknown_fields=True):
    playlist_id: ObjectId
    target: Target
    priority: Priority = 0
    days: DaysIn = msgspec.field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    start_time: StartTime = "00:00"
    end_time: EndTime = "24:00"
    valid_from: InstantIn | None = None
    valid_until: InstantIn | None = None


class OverrideInput(Struct, forbid_unknown_fields=True):
    """Play `playlist_id` on the target now, above every schedule, until `until`."""

    playlist_id: ObjectId
    target: Target
    until: Annotated[
        str,
        Meta(
            max_length=v.MAX_INSTANT_CHARS,
            description="In the future, at most 31 days ahead.",
            extra_json_schema={"format": "date-time"},
        ),
    ]


class EnrollRequest(Struct, forbid_unknown_fields=True):
    enrollment_code: Name
    hardware: dict[str, Any] | None = None


class Play(Struct, kw_only=True):
    """One play as a device reports it. Each play of an upload is checked on its own
    (``control_api.core.plays``): a bad one is rejected alone, the others stored."""

    id: Annotated[
        str,
        Meta(
            description="Any spelling of a UUID; stored lowercase hyphenated.",
            extra_json_schema={"format": "uuid"},
        ),
    ]
    asset_id: PlayRef
    sha256: Sha256
    started_at: Instant
    ended_at: Instant
    source: Annotated[str, Meta(extra_json_schema={"enum": list(SOURCES)})]
    outcome: Annotated[str, Meta(extra_json_schema={"enum": list(OUTCOMES)})]
    schedule_id: PlayRef | None = None
    playlist_id: PlayRef | None = None


class PlaysUpload(Struct):
    plays: Annotated[list[Play], Meta(max_length=MAX_PLAYS_PER_UPLOAD)]


# ---------------------------------------------------------------- responses


class ErrorBody(Struct):
    code: Annotated[str, Meta(pattern=CODE_PATTERN)]
    message: str


class Error(Struct):
    error: ErrorBody


def error(code: str, message: str) -> Error:
    """The error envelope every refusal answers with."""
    return Error(error=ErrorBody(code=code, message=message))


class PlaylistItem(Struct):
    asset_id: str
    duration_ms: Duration | None


class Playlist(Struct, kw_only=True):
    id: str
    name: str
    items: list[PlaylistItem]
    crossfade_ms: Crossfade
    version: int
    created_at: Instant
    updated_at: Instant


class Device(Struct, kw_only=True):
    id: str
    name: str
    timezone: Timezone
    groups: list[str]
    enrolled: bool
    last_seen_at: Instant | None
    online: Annotated[
        bool,
        Meta(
            description="The MQTT presence when the device has one, else seen within three "
            "telemetry intervals."
        ),
    ]
    presence: DevicePresence
    status: (
        Annotated[
            dict[str, Any],
            Meta(description="The latest telemetry report, as sent by the device (Telemetry)."),
        ]
        | None
    )
    created_at: Instant
    updated_at: Instant


class DeviceCreated(Device, kw_only=True):
    """A new device, with its one-time enrollment code (shown once)."""

    enrollment_code: str


class EnrollmentCode(Struct):
    enrollment_code: str


class Enrolled(Struct):
    device_id: str
    device_token: str


TargetT = TypeVar("TargetT")


# A schedule's fields, with the target's form as the parameter: the API's Schedule
# and the manifest's ManifestSchedule (no docstring: the OpenAPI components are the
# subclasses, and a description here would not reach them).
class ScheduleFields(Struct, Generic[TargetT], kw_only=True):
    id: str
    playlist_id: str
    target: TargetT
    priority: int
    days: Days
    start_time: StartTime
    end_time: EndTime
    valid_from: Instant | None
    valid_until: Instant | None
    version: int
    created_at: Instant
    updated_at: Instant


class Schedule(ScheduleFields[Target], kw_only=True):
    pass


# An override's fields, with the target's form as the parameter (as ScheduleFields).
class OverrideFields(Struct, Generic[TargetT], kw_only=True):
    id: str
    playlist_id: str
    target: TargetT
    until: Instant
    created_at: Annotated[
        str,
        Meta(
            description="When it was made: it plays from then.",
            extra_json_schema={"format": "date-time"},
        ),
    ]


class Override(OverrideFields[Target], kw_only=True):
    pass


class PlayRecord(Struct, kw_only=True):
    """A stored play; the fields in the order of the CSV export's columns."""

    id: str
    device_id: str
    asset_id: PlayRef
    sha256: Sha256
    started_at: Instant
    ended_at: Instant
    source: Annotated[str, Meta(extra_json_schema={"enum": list(SOURCES)})]
    outcome: Annotated[str, Meta(extra_json_schema={"enum": list(OUTCOMES)})]
    schedule_id: PlayRef | None
    playlist_id: PlayRef | None


class PlayRejection(Struct):
    id: (
        Annotated[
            str,
            Meta(max_length=ECHO_ID_CHARS, description="The play's id as sent (cut short)."),
        ]
        | None
    )
    code: Annotated[
        str,
        Meta(
            pattern=CODE_PATTERN,
            description=(
                "bad_id, missing_field, not_an_object, bad_sha256, bad_field, bad_instant,"
                " bad_interval, bad_source, bad_outcome, unknown_asset."
            ),
        ),
    ]
    field: str
    message: str


class PlaysAccepted(Struct):
    accepted: Count
    duplicates: Count
    rejected: Annotated[
        list[PlayRejection],
        Meta(
            description=(
                "Plays refused one by one and never stored (the others of the batch are);"
                " accepted + duplicates + rejected = plays sent."
            )
        ),
    ]


class AssetList(Struct):
    items: list[Asset]
    next: NextPage


class PlaylistList(Struct):
    items: list[Playlist]
    next: NextPage


class DeviceList(Struct):
    items: list[Device]
    next: NextPage


class ScheduleList(Struct):
    items: list[Schedule]
    next: NextPage


class OverrideList(Struct):
    items: list[Override]
    next: NextPage


class PlayList(Struct):
    items: list[PlayRecord]
    next: NextPage


class ManifestPlaylist(Playlist, kw_only=True):
    """A Playlist. `crossfade_ms` is optional here (0 when absent): the golden manifests a
    player must accept (tests/contract) predate it."""

    crossfade_ms: Crossfade = 0


class ManifestSchedule(ScheduleFields[Literal["device", "group", "all"]], kw_only=True):
    """A Schedule whose target is reduced to its kind (the device is in it)."""


class ManifestOverride(OverrideFields[Literal["device", "group", "all"]], kw_only=True):
    """An Override whose target is reduced to its kind (the device is in it). It plays
    while `created_at <= t < until`."""


class ManifestDevice(Struct):
    id: str
    name: str
    timezone: str
    groups: list[str]


class ManifestDeleted(Struct):
    assets: list[str]
    playlists: list[str]
    schedules: list[str]
    overrides: list[str]


class Manifest(Struct, kw_only=True):
    schema: Literal[1]
    cursor: str
    full: bool
    server_time: Instant
    sync_interval_s: Annotated[int, Meta(ge=1)]
    device: ManifestDevice
    assets: list[ManifestAsset]
    playlists: list[ManifestPlaylist]
    schedules: list[ManifestSchedule]
    overrides: list[ManifestOverride]
    deleted: ManifestDeleted


class Health(Struct):
    status: Literal["ok"]


# Every object of the document, requests and responses (the order is the document's).
DOCUMENTED: tuple[type[Struct], ...] = (
    Error,
    Asset,
    AssetMeasurement,
    AssetList,
    AssetPatch,
    PlaylistItem,
    Playlist,
    PlaylistList,
    PlaylistInput,
    Device,
    DeviceCreated,
    DeviceList,
    DeviceInput,
    DevicePatch,
    EnrollmentCode,
    Target,
    Schedule,
    ScheduleList,
    ScheduleInput,
    Override,
    OverrideList,
    OverrideInput,
    Play,
    PlayRecord,
    PlayList,
    PlaysUpload,
    PlaysAccepted,
    EnrollRequest,
    Enrolled,
    ManifestAsset,
    ManifestPlaylist,
    ManifestSchedule,
    ManifestOverride,
    Manifest,
    Health,
    CommandInput,
    CommandAck,
    Command,
    CommandList,
    WebhookInput,
    Webhook,
    WebhookCreated,
    WebhookList,
    Delivery,
    DeliveryList,
    CommandPage,
    DevicePresence,
    PresenceEvent,
    PresenceEventList,
    PushCredentials,
)


def schema_components() -> dict[str, dict[str, Any]]:
    """``components/schemas`` of the documented structs (and what they reference)."""
    _, components = msgspec.json.schema_components(
        DOCUMENTED, ref_template="#/components/schemas/{name}"
    )
    for name, extra in SCHEMA_EXTRAS.items():
        components[name].update(extra)
    return components
