"""The player's side of the wire format (PROTOCOL.md): manifest decoding, play encoding.

A tolerant reader: unknown fields are ignored at every level, so an older player
keeps working against a newer API of the same schema major. It is strict on what
it uses: a manifest that is not a JSON object, has another schema major, has a
field of the wrong type or value, repeats an id, or (when full) refers to an
asset or playlist it does not contain is rejected whole with a ``ManifestError``
whose ``path`` names the field (``assets[3].sha256``). Referential integrity of
a delta can only be judged against the stored state, so the store checks it
after applying; here a delta is only checked against itself (an item may not
refer to something the same delta deletes).

Instants are RFC 3339 with a zone (``Z`` or ``+hh:mm``) and come out tz-aware
in UTC. Times of day are ``"HH:MM"``; ``"24:00"`` only as a schedule's end.
Both are ASCII digits only.

Bounds (PROTOCOL.md ranges, plus what keeps every later computation in range,
so nothing this decoder accepts can raise when the daemon starts or plays):

=========================  ==========================================
``sync_interval_s``        10 .. 604800 (one week; apscheduler and
                           the C int of a timer never overflow)
``duration_ms`` (assets    0 .. 604800000 (one week); PROTOCOL's 1 s
and playlist items)        floor is the API's refusal rule, a player
                           still plays a shorter item
``crossfade_ms``           0 .. 10000, when present
``priority``               -2**31 .. 2**31-1 (32-bit)
``size``, ``version``      0 .. 2**53-1 (exact in every JSON reader)
``schema``                 any integer within 64 bits (then == 1)
``days``                   1 .. 7, at least one
instants                   2000-01-01T00:00:00Z .. before
                           2100-01-01T00:00:00Z (``MIN_INSTANT`` /
                           ``MAX_INSTANT``): far from datetime's
                           limits whatever zone or offset is added
strings                    valid Unicode (no lone surrogates: SQLite
                           and UTF-8 encoders refuse them)
two assets, one sha256     must agree on ``size`` (one file)
=========================  ==========================================

The field types and bounds are declared once, as msgspec structs (``_ManifestWire``
and the structs it holds): msgspec decodes the bytes straight into them in C,
checking types, ranges, lengths and patterns as it goes, and skips unknown
fields without building them. What a struct cannot say (schema major, time
zone, an instant's form and range, validity windows, a sha256's hex digits,
duplicate ids, one size per sha256, references) is checked while the structs
become the domain values of ``player.core.model``. That conversion consumes the
wire lists, so 100k assets are never held in both forms at once.

Every failure is a ``ManifestError``. A msgspec error names the failing path;
only then is the body parsed a second time, generically, to show the offending
value and to word the complaint from the declared type. A body msgspec cannot
read at all (it refuses lone surrogates anywhere, even in fields the player
ignores) takes the slow path: stdlib ``json``, a surrogate check of the fields
the structs declare, then ``msgspec.convert`` into the same structs, so it is
accepted or rejected as by a stdlib reader. The boundary also turns ``RecursionError`` (deep
nesting), ``UnicodeError``, ``OverflowError`` and ``ValueError`` escaping a
check into a ``ManifestError``, so a hostile body can never become an
"internal error".
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType
from msgspec import inspect as msgspec_inspect

from lomuz_rules.model import (
    MINUTES_PER_DAY,
    Asset,
    MediaType,
    Playlist,
    PlaylistItem,
    Schedule,
    TargetKind,
)
from player.core.model import Deleted, DeviceInfo, Manifest, Play
from player.errors import ManifestError

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


class _ItemWire(Struct, gc=False):
    asset_id: _Id
    duration_ms: _DurationMs | None = None


class _PlaylistWire(Struct, gc=False):
    id: _Id
    items: list[_ItemWire]
    version: _ExactCount
    name: str | None = None
    # Not used by the player yet (crossfade is a local setting), but bounded like the rest.
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


class _DeviceWire(Struct, gc=False):
    id: _Id
    name: str | None = None
    timezone: str | None = None
    groups: list[str] | None = None


class _DeletedWire(Struct, gc=False):
    assets: list[str] | None = None
    playlists: list[str] | None = None
    schedules: list[str] | None = None


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
    # Read only in a delta (a full manifest's "deleted" carries no meaning), so
    # kept generic here and converted to _DeletedWire then.
    deleted: Any = None


_W = TypeVar("_W", bound=Struct)


# --- Error wording -----------------------------------------------------------


def _show(value: object) -> str:
    """A short JSON rendering of a bad value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the message must stay storable text
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = f"<{_type_name(value)}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _got(value: object) -> str:
    return _show(value) if isinstance(value, str | int | float) else _type_name(value)


def _wrong(path: str, expected: str, value: object) -> ManifestError:
    return ManifestError(f"must be {expected}, got {_got(value)}", path)


def _check_unicode(value: str, path: str) -> None:
    """Refuse lone surrogates (``"\\ud800"`` is valid JSON but not encodable text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ManifestError(
            f"is not valid Unicode text (lone surrogate at character {exc.start})", path
        ) from exc


def _check_int(value: object, path: str, minimum: int | None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise ManifestError(f"must be >= {minimum}, got {_show(value)}", path)
    if maximum is not None and value > maximum:
        raise ManifestError(f"must be <= {maximum}, got {_show(value)}", path)
    if not -MAX_WIRE_INT <= value <= MAX_WIRE_INT:
        raise ManifestError(f"must fit in 64 bits, got {_show(value)}", path)
    return value


_AT = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]*)`")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_VALUE = object()


def _steps(msgspec_path: str) -> list[str | int]:
    """``.assets[3].sha256`` (msgspec's path after ``$``) as ``["assets", 3, "sha256"]``."""
    return [int(index) if index else key for key, index in _STEP.findall(msgspec_path)]


def _dotted(steps: Sequence[str | int]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f"{out and '.'}{step}")
    return out


def _value_at(data: object, steps: Sequence[str | int]) -> object:
    for step in steps:
        in_list = isinstance(step, int) and isinstance(data, list) and step < len(data)
        in_object = isinstance(step, str) and isinstance(data, dict) and step in data
        if not (in_list or in_object):
            return _MISSING_VALUE
        data = data[step]  # type: ignore[index]
    return data


def _unwrap(declared: Any) -> tuple[Any, str | None]:
    """A declared type without its ``| None`` and ``Meta``, and its description."""
    description: str | None = None
    t = msgspec_inspect
    if isinstance(declared, t.UnionType):
        useful = [member for member in declared.types if not isinstance(member, t.NoneType)]
        declared = useful[0] if len(useful) == 1 else declared
    if isinstance(declared, t.Metadata):
        description = (declared.extra_json_schema or {}).get("description")
        declared = declared.type
    return declared, description


def _declared_at(root: type[Struct], steps: Sequence[str | int]) -> tuple[Any, str | None]:
    """The declared msgspec type at ``steps`` under ``root``, and its description."""
    declared, description = _unwrap(msgspec_inspect.type_info(root))
    for step in steps:
        if isinstance(step, int) and isinstance(declared, msgspec_inspect.ListType):
            declared, description = _unwrap(declared.item_type)
        elif isinstance(step, str) and isinstance(declared, msgspec_inspect.StructType):
            fields = {f.encode_name: f.type for f in declared.fields}
            declared, description = _unwrap(fields.get(step, msgspec_inspect.AnyType()))
        else:
            return msgspec_inspect.AnyType(), None
    return declared, description


def _complaint(declared: Any, description: str | None, value: object, detail: str) -> str:
    """What is wrong with ``value`` given its declared type, in this module's words."""
    t = msgspec_inspect
    if value is _MISSING_VALUE:  # the generic parse could not find it: msgspec's words
        return f"is invalid: {detail}"
    if description is not None:
        return f"must be {description}, got {_got(value)}"
    if isinstance(declared, t.IntType):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {_got(value)}"
        if declared.ge is not None and value < declared.ge:
            return f"must be >= {declared.ge}, got {_show(value)}"
        if declared.le is not None and value > declared.le:
            return f"must be <= {declared.le}, got {_show(value)}"
    elif isinstance(declared, t.StrType):
        if not isinstance(value, str):
            return f"must be a string, got {_got(value)}"
        if declared.min_length and len(value) < declared.min_length:
            return "must not be empty"
    elif isinstance(declared, t.BoolType):
        return f"must be true or false, got {_got(value)}"
    elif isinstance(declared, t.EnumType):
        allowed = ", ".join(m.value for m in declared.cls)
        return f"must be one of {allowed}, got {_got(value)}"
    elif isinstance(declared, t.ListType):
        return f"must be an array, got {_got(value)}"
    elif isinstance(declared, t.StructType):
        return f"must be an object, got {_got(value)}"
    return f"is invalid: {detail}"


def _explain(
    exc: msgspec.ValidationError, root: type[Struct], data: object, prefix: Sequence[str | int]
) -> ManifestError:
    """A msgspec validation error as a ``ManifestError`` naming the field and the value."""
    match = _AT.fullmatch(str(exc))
    assert match is not None  # the pattern matches any text
    steps = _steps(match["path"] or "")
    missing = _MISSING.fullmatch(match["what"])
    if missing:
        return ManifestError("is missing", _dotted([*prefix, *steps, missing["field"]]))
    value = _value_at(data, steps)
    declared, description = _declared_at(root, steps)
    message = _complaint(declared, description, value, match["what"])
    path = _dotted([*prefix, *steps])
    if not path:
        return ManifestError(f"manifest {message}")
    return ManifestError(message, path)


def _convert(data: object, root: type[_W], prefix: Sequence[str | int]) -> _W:
    """``data`` (generic JSON values) validated into ``root``, or a ``ManifestError``."""
    _check_texts(data, msgspec_inspect.type_info(root), _dotted(prefix))
    try:
        return msgspec.convert(data, root)
    except msgspec.ValidationError as exc:
        raise _explain(exc, root, data, prefix) from exc


def _check_texts(data: object, declared: Any, path: str) -> None:
    """Refuse a lone surrogate in any string of ``data`` where ``declared`` expects one.

    The slow path only, before ``msgspec.convert`` (which cannot encode such a
    string); fields the structs do not declare are ignored, as everywhere.
    """
    declared, _ = _unwrap(declared)
    if isinstance(declared, msgspec_inspect.AnyType):  # not read here (a full manifest's "deleted")
        return
    if isinstance(data, str):
        _check_unicode(data, path)
    elif isinstance(data, list) and isinstance(declared, msgspec_inspect.ListType):
        for i, item in enumerate(data):
            _check_texts(item, declared.item_type, f"{path}[{i}]")
    elif isinstance(data, dict) and isinstance(declared, msgspec_inspect.StructType):
        for field in declared.fields:
            if field.encode_name in data:
                at = f"{path}.{field.encode_name}" if path else field.encode_name
                _check_texts(data[field.encode_name], field.type, at)


# --- Public parsing helpers --------------------------------------------------


def parse_instant(value: object, path: str = "instant") -> datetime:
    """An RFC 3339 instant carrying a zone, as a tz-aware UTC datetime."""
    if not isinstance(value, str):
        raise _wrong(path, "an RFC 3339 instant string", value)
    if not _RFC3339_RE.search(value):
        raise ManifestError(f"must be {_INSTANT_TEXT}, got {_show(value)}", path)
    try:
        parsed = datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # year 1 minus an offset overflows
        raise ManifestError(f"is not a valid instant: {_show(value)}", path) from exc
    return parsed


def parse_manifest_instant(value: object, path: str) -> datetime:
    """``parse_instant`` within ``MIN_INSTANT`` .. ``MAX_INSTANT`` (manifest fields)."""
    parsed = parse_instant(value, path)
    if not MIN_INSTANT <= parsed < MAX_INSTANT:
        raise ManifestError(
            f"must be from {MIN_INSTANT.year} up to (not including) {MAX_INSTANT.year}, "
            f"got {_show(value)}",
            path,
        )
    return parsed


def parse_time_of_day(value: object, path: str, *, allow_24: bool) -> int:
    """``"HH:MM"`` as minutes since local midnight; ``"24:00"`` (1440) only when allowed."""
    if not isinstance(value, str):
        raise _wrong(path, 'a time of day string "HH:MM"', value)
    if (_END_TIME_OF_DAY_RE if allow_24 else _TIME_OF_DAY_RE).search(value):
        return _minutes(value)
    expected = _END_TEXT if allow_24 else _START_TEXT
    raise ManifestError(f"must be {expected}, got {_show(value)}", path)


def _minutes(hh_mm: str) -> int:
    """Minutes since midnight of an ``"HH:MM"`` that already matched its pattern."""
    return int(hh_mm[:2]) * 60 + int(hh_mm[3:])


# --- Wire structs to domain values -------------------------------------------


class _Instants:
    """``parse_manifest_instant`` remembered per text: a catalogue repeats few instants."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    def required(self, text: str, path: str) -> datetime:
        parsed = self._seen.get(text)
        if parsed is None:
            parsed = self._seen[text] = parse_manifest_instant(text, path)
        return parsed

    def optional(self, text: str | None, path: str) -> datetime | None:
        return None if text is None else self.required(text, path)

    def window(
        self, valid_from: str | None, valid_until: str | None, path: str
    ) -> tuple[datetime | None, datetime | None]:
        start = self.optional(valid_from, f"{path}.valid_from")
        end = self.optional(valid_until, f"{path}.valid_until")
        if start is not None and end is not None and end <= start:
            raise ManifestError("must be later than valid_from", f"{path}.valid_until")
        return start, end


def _reject_repeated_ids(ids: list[str], key: str) -> None:
    if len(set(ids)) == len(ids):
        return
    first_at: dict[str, int] = {}
    for i, ident in enumerate(ids):
        j = first_at.setdefault(ident, i)
        if j != i:
            raise ManifestError(f"duplicate id {_show(ident)} (also {key}[{j}])", f"{key}[{i}].id")


def _check_sha256s(wires: list[_AssetWire]) -> None:
    """Every sha256 is 64 lowercase hex digits (msgspec checked the length)."""
    digits = "".join([w.sha256 for w in wires]).encode("utf-8")
    if not digits.translate(None, _HEX_DIGITS):
        return
    for i, w in enumerate(wires):
        if w.sha256.encode("utf-8").translate(None, _HEX_DIGITS):
            raise ManifestError(
                f"must be {_SHA256_TEXT}, got {_show(w.sha256)}", f"assets[{i}].sha256"
            )


def _assets(wires: list[_AssetWire], instants: _Instants) -> tuple[Asset, ...]:
    """The assets, consuming ``wires``: each struct is freed once converted, so the
    wire form and the domain form of 100k assets are never held at once."""
    _reject_repeated_ids([w.id for w in wires], "assets")
    _check_sha256s(wires)
    content_types: dict[str, str] = {}  # one str object per distinct content type
    canonical = content_types.setdefault
    first_of_file: dict[str, int] = {}
    first_index = first_of_file.setdefault
    out: list[Asset] = []
    append = out.append
    wires.reverse()
    pop = wires.pop
    for i in range(len(wires)):
        w = pop()
        j = first_index(w.sha256, i)
        if j != i and out[j].size_bytes != w.size:  # two assets of one sha256 are one file
            other = out[j]
            raise ManifestError(
                f"asset {_show(w.id)} has size {w.size} but asset {_show(other.id)} "
                f"(assets[{j}]) has the same sha256 with size {other.size_bytes}",
                f"assets[{i}].size",
            )
        if w.valid_from is None and w.valid_until is None:
            valid_from = valid_until = None
        else:
            valid_from, valid_until = instants.window(w.valid_from, w.valid_until, f"assets[{i}]")
        content_type = w.content_type or ""
        append(
            Asset(
                w.id,
                w.sha256,
                w.size,
                w.media_type,
                canonical(content_type, content_type),
                w.title or "",
                w.duration_ms,
                valid_from,
                valid_until,
                bool(w.emergency),
                w.url,
            )
        )
    return tuple(out)


def _playlists(wires: list[_PlaylistWire]) -> tuple[Playlist, ...]:
    """The playlists, consuming ``wires`` (as ``_assets`` does)."""
    _reject_repeated_ids([w.id for w in wires], "playlists")
    out: list[Playlist] = []
    wires.reverse()
    while wires:
        w = wires.pop()
        items = tuple([PlaylistItem(item.asset_id, item.duration_ms) for item in w.items])
        out.append(Playlist(w.id, w.name or "", items, w.version))
    return tuple(out)


def _schedules(wires: list[_ScheduleWire], instants: _Instants) -> tuple[Schedule, ...]:
    _reject_repeated_ids([w.id for w in wires], "schedules")
    out: list[Schedule] = []
    for i, w in enumerate(wires):
        path = f"schedules[{i}]"
        if w.days is UNSET:
            days = _ALL_DAYS
        elif not w.days:  # null or []
            raise ManifestError("must name at least one weekday", f"{path}.days")
        else:
            days = frozenset(w.days)
        valid_from, valid_until = instants.window(w.valid_from, w.valid_until, path)
        out.append(
            Schedule(
                id=w.id,
                playlist_id=w.playlist_id,
                target=w.target,
                priority=w.priority or 0,
                days=days,
                start_minute=0 if w.start_time is None else _minutes(w.start_time),
                end_minute=MINUTES_PER_DAY if w.end_time is None else _minutes(w.end_time),
                valid_from=valid_from,
                valid_until=valid_until,
                created_at=instants.required(w.created_at, f"{path}.created_at"),
                version=w.version,
            )
        )
    return tuple(out)


def _device(w: _DeviceWire) -> DeviceInfo:
    timezone = w.timezone if w.timezone is not None else "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a directory name
        raise ManifestError(f"unknown IANA time zone {_show(timezone)}", "device.timezone") from exc
    return DeviceInfo(id=w.id, name=w.name or "", timezone=timezone, groups=tuple(w.groups or ()))


def _listed(value: list[_W] | UnsetType | None, key: str, full: bool) -> list[_W]:
    """A top-level list; a full manifest must carry it, a delta may leave it out."""
    if isinstance(value, list):
        return value
    if not full:
        return []
    if value is UNSET:
        raise ManifestError("is missing", key)
    raise _wrong(key, "an array", None)


def _deleted(raw: object) -> Deleted:
    if raw is None:
        return Deleted()
    wire = _convert(raw, _DeletedWire, ["deleted"])
    return Deleted(
        assets=tuple(wire.assets or ()),
        playlists=tuple(wire.playlists or ()),
        schedules=tuple(wire.schedules or ()),
    )


def _check_references(m: Manifest) -> None:
    asset_ids = {a.id for a in m.assets}
    playlist_ids = {p.id for p in m.playlists}
    schedule_ids = {s.id for s in m.schedules}
    for kind, listed, deleted in (
        ("assets", asset_ids, m.deleted.assets),
        ("playlists", playlist_ids, m.deleted.playlists),
        ("schedules", schedule_ids, m.deleted.schedules),
    ):
        for i, ident in enumerate(deleted):
            if ident in listed:
                raise ManifestError(
                    f"{_show(ident)} is both listed and deleted", f"deleted.{kind}[{i}]"
                )
    gone_assets = set(m.deleted.assets)
    gone_playlists = set(m.deleted.playlists)
    used_assets = {item.asset_id for playlist in m.playlists for item in playlist.items}
    used_playlists = {schedule.playlist_id for schedule in m.schedules}
    if m.full:
        gone_assets |= used_assets - asset_ids
        gone_playlists |= used_playlists - playlist_ids
    if used_assets.isdisjoint(gone_assets) and used_playlists.isdisjoint(gone_playlists):
        return
    # Something is wrong: find the first offender, for its path.
    gone_assets = set(m.deleted.assets)
    gone_playlists = set(m.deleted.playlists)
    for pi, playlist in enumerate(m.playlists):
        for ii, item in enumerate(playlist.items):
            path = f"playlists[{pi}].items[{ii}].asset_id"
            if item.asset_id in gone_assets:
                raise ManifestError(f"refers to deleted asset {_show(item.asset_id)}", path)
            if m.full and item.asset_id not in asset_ids:
                raise ManifestError(f"refers to unknown asset {_show(item.asset_id)}", path)
    for si, schedule in enumerate(m.schedules):
        path = f"schedules[{si}].playlist_id"
        if schedule.playlist_id in gone_playlists:
            raise ManifestError(f"refers to deleted playlist {_show(schedule.playlist_id)}", path)
        if m.full and schedule.playlist_id not in playlist_ids:
            raise ManifestError(f"refers to unknown playlist {_show(schedule.playlist_id)}", path)


# --- Decoding ----------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _parse_generic(raw: bytes) -> object:
    """The body as plain JSON values (stdlib ``json``), or a ``ManifestError``."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest is not UTF-8: {exc.reason}") from exc
    except RecursionError as exc:
        raise ManifestError("manifest is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise ManifestError(f"manifest is not valid JSON: {exc}") from exc


def _check_envelope(data: object) -> None:
    """A JSON object of our schema major: judged before any other field, as a newer
    major may reshape everything else."""
    if not isinstance(data, dict):
        raise ManifestError(f"manifest must be a JSON object, got {_type_name(data)}")
    if "schema" in data:
        schema = _check_int(data["schema"], "schema", None)
        if schema != SCHEMA_MAJOR:
            raise ManifestError(
                f"unsupported schema major {schema} (this player reads {SCHEMA_MAJOR})", "schema"
            )


def _read_wire(raw: bytes) -> _ManifestWire:
    """The body as a ``_ManifestWire``, or a ``ManifestError``."""
    try:
        return msgspec.json.decode(raw, type=_ManifestWire)
    except msgspec.ValidationError as exc:
        try:
            data = _parse_generic(raw)
        except ManifestError:  # valid up to msgspec's first error, malformed later
            data = _MISSING_VALUE
        else:
            _check_envelope(data)
        raise _explain(exc, _ManifestWire, data, []) from exc
    except msgspec.DecodeError:
        # Not JSON to msgspec; the stdlib reader says why, or reads what msgspec
        # refuses although valid JSON (a lone surrogate, perhaps in an ignored field).
        data = _parse_generic(raw)
        _check_envelope(data)
        return _convert(data, _ManifestWire, [])


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding.

    A 100k-asset manifest leaves ~200k new long-lived objects, none in a cycle,
    and each full collection they trigger walks the whole heap again: a third of
    the decoding time (docs/BENCHMARKS.md). Reference counting still frees
    everything meanwhile; the collector resumes, as it was, when decoding ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode_manifest(raw: bytes) -> Manifest:
    """Decode and validate manifest bytes; raise ``ManifestError`` naming the bad field.

    The one validation path: ``sync`` and ``import`` both call it. Nothing but
    ``ManifestError`` leaves it (see the module docstring).
    """
    try:
        with _collector_paused():
            return _decode_manifest(raw)
    except ManifestError:
        raise
    except RecursionError as exc:
        raise ManifestError("manifest is nested too deeply") from exc
    except (UnicodeError, OverflowError, ValueError) as exc:  # a check we did not foresee
        detail = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
        raise ManifestError(f"manifest is invalid: {type(exc).__name__}: {detail}") from exc


def _decode_manifest(raw: bytes) -> Manifest:
    wire = _read_wire(raw)
    if wire.schema != SCHEMA_MAJOR:
        raise ManifestError(
            f"unsupported schema major {wire.schema} (this player reads {SCHEMA_MAJOR})", "schema"
        )
    full = wire.full
    instants = _Instants()
    manifest = Manifest(
        schema=wire.schema,
        cursor=wire.cursor,
        full=full,
        server_time=instants.required(wire.server_time, "server_time"),
        sync_interval_s=wire.sync_interval_s,
        device=_device(wire.device),
        assets=_assets(_listed(wire.assets, "assets", full), instants),
        playlists=_playlists(_listed(wire.playlists, "playlists", full)),
        schedules=_schedules(_listed(wire.schedules, "schedules", full), instants),
        # A full manifest replaces everything, so its "deleted" carries no meaning.
        deleted=Deleted() if full else _deleted(wire.deleted),
    )
    _check_references(manifest)
    return manifest


def format_instant(at: datetime) -> str:
    """An instant as RFC 3339 in UTC with a ``Z`` suffix; naive datetimes are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: instants must carry a zone")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_play(play: Play) -> dict[str, Any]:
    """A Play as PROTOCOL.md JSON; ``schedule_id``/``playlist_id`` only when known."""
    out: dict[str, Any] = {
        "id": play.id,
        "asset_id": play.asset_id,
        "sha256": play.sha256,
        "started_at": format_instant(play.started_at),
        "ended_at": format_instant(play.ended_at),
        "source": play.source.value,
        "outcome": play.outcome.value,
    }
    if play.schedule_id is not None:
        out["schedule_id"] = play.schedule_id
    if play.playlist_id is not None:
        out["playlist_id"] = play.playlist_id
    return out


def encode_plays(plays: Iterable[Play]) -> dict[str, Any]:
    """The body of ``POST /v1/device/plays``; at most ``MAX_PLAYS_PER_UPLOAD`` plays."""
    encoded: Sequence[dict[str, Any]] = [encode_play(p) for p in plays]
    if len(encoded) > MAX_PLAYS_PER_UPLOAD:
        raise ValueError(
            f"{len(encoded)} plays in one upload; the API takes at most {MAX_PLAYS_PER_UPLOAD}"
        )
    return {"plays": list(encoded)}
