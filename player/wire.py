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

Every failure is a ``ManifestError``: the decoder's boundary also turns
``RecursionError`` (deep nesting), ``UnicodeError``, ``OverflowError`` and
``ValueError`` escaping a check into one, so a hostile body can never become an
"internal error".
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from player.core.model import (
    MINUTES_PER_DAY,
    Asset,
    Deleted,
    DeviceInfo,
    Manifest,
    MediaType,
    Play,
    Playlist,
    PlaylistItem,
    Schedule,
    TargetKind,
)
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

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_HHMM = re.compile(r"(\d{2}):(\d{2})")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)

_E = TypeVar("_E", bound=enum.StrEnum)
_Obj = Mapping[str, Any]


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


def _wrong(path: str, expected: str, value: object) -> ManifestError:
    got = _show(value) if isinstance(value, str | int | float) else _type_name(value)
    return ManifestError(f"must be {expected}, got {got}", path)


class _Reader:
    """Typed access to one JSON object, building field paths for errors."""

    def __init__(self, obj: object, path: str) -> None:
        if not isinstance(obj, dict):
            raise _wrong(path or "manifest", "an object", obj)
        self.obj: dict[str, Any] = obj
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.obj:
            if required:
                raise ManifestError("is missing", self.at(key))
            return None
        return self.obj[key]

    def string(self, key: str, *, non_empty: bool = False) -> str:
        value = self._get(key, True)
        if not isinstance(value, str):
            raise _wrong(self.at(key), "a string", value)
        _check_unicode(value, self.at(key))
        if non_empty and not value:
            raise ManifestError("must not be empty", self.at(key))
        return value

    def opt_string(self, key: str, default: str) -> str:
        if self.obj.get(key) is None:
            return default
        return self.string(key)

    def integer(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None,
        default: int | None = None,
    ) -> int:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        return _check_int(value, self.at(key), minimum, maximum)

    def opt_integer(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = self._get(key, False)
        return None if value is None else _check_int(value, self.at(key), minimum, maximum)

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            raise _wrong(self.at(key), "true or false", value)
        return value

    def instant(self, key: str) -> datetime:
        return parse_manifest_instant(self._get(key, True), self.at(key))

    def opt_instant(self, key: str) -> datetime | None:
        value = self._get(key, False)
        return None if value is None else parse_manifest_instant(value, self.at(key))

    def array(self, key: str, *, default_empty: bool = False) -> list[Any]:
        value = self._get(key, not default_empty)
        if value is None and default_empty:
            return []
        if not isinstance(value, list):
            raise _wrong(self.at(key), "an array", value)
        return value

    def strings(self, key: str, *, default_empty: bool = False) -> tuple[str, ...]:
        items = self.array(key, default_empty=default_empty)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise _wrong(f"{self.at(key)}[{i}]", "a string", item)
            _check_unicode(item, f"{self.at(key)}[{i}]")
        return tuple(items)

    def choice(self, key: str, kind: type[_E], default: _E | None = None) -> _E:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        member = kind._value2member_map_.get(value) if isinstance(value, str) else None
        if member is None:
            allowed = ", ".join(m.value for m in kind)
            raise _wrong(self.at(key), f"one of {allowed}", value)
        return member  # type: ignore[return-value]


def _check_unicode(value: str, path: str) -> None:
    """Refuse lone surrogates (``"\\ud800"`` is valid JSON but not encodable text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ManifestError(
            f"is not valid Unicode text (lone surrogate at character {exc.start})", path
        ) from exc


def _check_int(
    value: object, path: str, minimum: int | None, maximum: int | None = None
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise ManifestError(f"must be >= {minimum}, got {_show(value)}", path)
    if maximum is not None and value > maximum:
        raise ManifestError(f"must be <= {maximum}, got {_show(value)}", path)
    if not -MAX_WIRE_INT <= value <= MAX_WIRE_INT:
        raise ManifestError(f"must fit in 64 bits, got {_show(value)}", path)
    return value


def parse_instant(value: object, path: str = "instant") -> datetime:
    """An RFC 3339 instant carrying a zone, as a tz-aware UTC datetime."""
    if not isinstance(value, str):
        raise _wrong(path, "an RFC 3339 instant string", value)
    if not _RFC3339.fullmatch(value):
        raise ManifestError(
            f"must be an RFC 3339 instant with a zone (2026-12-01T09:00:00Z), got {_show(value)}",
            path,
        )
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
    match = _HHMM.fullmatch(value)
    if match:
        hours, minutes = int(match[1]), int(match[2])
        if hours < 24 and minutes < 60:
            return hours * 60 + minutes
        if allow_24 and (hours, minutes) == (24, 0):
            return MINUTES_PER_DAY
    allowed = '"00:00".."24:00"' if allow_24 else '"00:00".."23:59"'
    raise ManifestError(f"must be a time of day {allowed}, got {_show(value)}", path)


def _check_window(valid_from: datetime | None, valid_until: datetime | None, path: str) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise ManifestError("must be later than valid_from", f"{path}.valid_until")


def _decode_asset(obj: object, path: str) -> Asset:
    r = _Reader(obj, path)
    sha256 = r.string("sha256")
    if not _SHA256.fullmatch(sha256):
        raise ManifestError(f"must be 64 lowercase hex digits, got {_show(sha256)}", r.at("sha256"))
    valid_from = r.opt_instant("valid_from")
    valid_until = r.opt_instant("valid_until")
    _check_window(valid_from, valid_until, path)
    return Asset(
        id=r.string("id", non_empty=True),
        sha256=sha256,
        size_bytes=r.integer("size", minimum=0, maximum=MAX_EXACT_INT),
        media_type=r.choice("media_type", MediaType),
        content_type=r.opt_string("content_type", ""),
        title=r.opt_string("title", ""),
        duration_ms=r.opt_integer("duration_ms", minimum=0, maximum=MAX_DURATION_MS),
        valid_from=valid_from,
        valid_until=valid_until,
        emergency=r.boolean("emergency", default=False),
        url=r.string("url", non_empty=True),
    )


def _decode_playlist(obj: object, path: str) -> Playlist:
    r = _Reader(obj, path)
    # Not used by the player yet (crossfade is a local setting), but bounded like the rest.
    r.opt_integer("crossfade_ms", minimum=0, maximum=MAX_CROSSFADE_MS)
    items: list[PlaylistItem] = []
    for i, raw_item in enumerate(r.array("items")):
        ir = _Reader(raw_item, f"{r.at('items')}[{i}]")
        items.append(
            PlaylistItem(
                asset_id=ir.string("asset_id", non_empty=True),
                duration_ms=ir.opt_integer("duration_ms", minimum=0, maximum=MAX_DURATION_MS),
            )
        )
    return Playlist(
        id=r.string("id", non_empty=True),
        name=r.opt_string("name", ""),
        items=tuple(items),
        version=r.integer("version", minimum=0, maximum=MAX_EXACT_INT),
    )


def _decode_schedule(obj: object, path: str) -> Schedule:
    r = _Reader(obj, path)
    days_path = r.at("days")
    raw_days = r.array("days", default_empty=True) if "days" in r.obj else list(_ALL_DAYS)
    if not raw_days:
        raise ManifestError("must name at least one weekday", days_path)
    days: set[int] = set()
    for i, day in enumerate(raw_days):
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            raise _wrong(f"{days_path}[{i}]", "an ISO weekday 1..7", day)
        days.add(day)
    start = r.obj.get("start_time")
    end = r.obj.get("end_time")
    valid_from = r.opt_instant("valid_from")
    valid_until = r.opt_instant("valid_until")
    _check_window(valid_from, valid_until, path)
    return Schedule(
        id=r.string("id", non_empty=True),
        playlist_id=r.string("playlist_id", non_empty=True),
        target=r.choice("target", TargetKind),
        priority=r.integer("priority", minimum=MIN_PRIORITY, maximum=MAX_PRIORITY, default=0),
        days=frozenset(days),
        start_minute=0
        if start is None
        else parse_time_of_day(start, r.at("start_time"), allow_24=False),
        end_minute=MINUTES_PER_DAY
        if end is None
        else parse_time_of_day(end, r.at("end_time"), allow_24=True),
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=r.instant("created_at"),
        version=r.integer("version", minimum=0, maximum=MAX_EXACT_INT),
    )


def _decode_device(obj: object, path: str) -> DeviceInfo:
    r = _Reader(obj, path)
    timezone = r.opt_string("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a directory name
        raise ManifestError(f"unknown IANA time zone {_show(timezone)}", r.at("timezone")) from exc
    return DeviceInfo(
        id=r.string("id", non_empty=True),
        name=r.opt_string("name", ""),
        timezone=timezone,
        groups=r.strings("groups", default_empty=True),
    )


def _decode_list(
    r: _Reader, key: str, decode: Any, *, default_empty: bool = False
) -> tuple[Any, ...]:
    """Decode ``r[key]`` item by item and reject a repeated ``id``."""
    out = []
    first_at: dict[str, int] = {}
    for i, raw in enumerate(r.array(key, default_empty=default_empty)):
        path = f"{r.at(key)}[{i}]"
        value = decode(raw, path)
        if value.id in first_at:
            raise ManifestError(
                f"duplicate id {_show(value.id)} (also {r.at(key)}[{first_at[value.id]}])",
                f"{path}.id",
            )
        first_at[value.id] = i
        out.append(value)
    return tuple(out)


def _decode_deleted(r: _Reader) -> Deleted:
    if r.obj.get("deleted") is None:
        return Deleted()
    d = _Reader(r.obj["deleted"], "deleted")
    return Deleted(
        assets=d.strings("assets", default_empty=True),
        playlists=d.strings("playlists", default_empty=True),
        schedules=d.strings("schedules", default_empty=True),
    )


def _check_same_file_sizes(assets: Sequence[Asset]) -> None:
    """Two assets of one sha256 are one file: their sizes must agree."""
    first: dict[str, int] = {}
    for i, asset in enumerate(assets):
        j = first.setdefault(asset.sha256, i)
        other = assets[j]
        if other.size_bytes != asset.size_bytes:
            raise ManifestError(
                f"asset {_show(asset.id)} has size {asset.size_bytes} but asset "
                f"{_show(other.id)} (assets[{j}]) has the same sha256 with size "
                f"{other.size_bytes}",
                f"assets[{i}].size",
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


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def decode_manifest(raw: bytes) -> Manifest:
    """Decode and validate manifest bytes; raise ``ManifestError`` naming the bad field.

    The one validation path: ``sync`` and ``import`` both call it. Nothing but
    ``ManifestError`` leaves it (see the module docstring).
    """
    try:
        return _decode_manifest(raw)
    except ManifestError:
        raise
    except RecursionError as exc:
        raise ManifestError("manifest is nested too deeply") from exc
    except (UnicodeError, OverflowError, ValueError) as exc:  # a check we did not foresee
        detail = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
        raise ManifestError(f"manifest is invalid: {type(exc).__name__}: {detail}") from exc


def _decode_manifest(raw: bytes) -> Manifest:
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest is not UTF-8: {exc.reason}") from exc
    except RecursionError as exc:
        raise ManifestError("manifest is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise ManifestError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"manifest must be a JSON object, got {_type_name(data)}")
    r = _Reader(data, "")
    schema = r.integer("schema")
    if schema != SCHEMA_MAJOR:
        raise ManifestError(
            f"unsupported schema major {schema} (this player reads {SCHEMA_MAJOR})", "schema"
        )
    full = r.boolean("full")
    manifest = Manifest(
        schema=schema,
        cursor=r.string("cursor"),
        full=full,
        server_time=r.instant("server_time"),
        sync_interval_s=r.integer(
            "sync_interval_s", minimum=MIN_SYNC_INTERVAL_S, maximum=MAX_SYNC_INTERVAL_S
        ),
        device=_decode_device(r._get("device", True), "device"),
        assets=_decode_list(r, "assets", _decode_asset, default_empty=not full),
        playlists=_decode_list(r, "playlists", _decode_playlist, default_empty=not full),
        schedules=_decode_list(r, "schedules", _decode_schedule, default_empty=not full),
        # A full manifest replaces everything, so its "deleted" carries no meaning.
        deleted=Deleted() if full else _decode_deleted(r),
    )
    _check_same_file_sizes(manifest.assets)
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
