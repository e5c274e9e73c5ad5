"""Manifest bytes to a ``player.core.model.Manifest``: the one validation path."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import UNSET, UnsetType

from lomuz_rules.model import MINUTES_PER_DAY, Asset, Override, Playlist, PlaylistItem, Schedule
from player.core.model import Deleted, DeviceInfo, Manifest
from player.errors import ManifestError
from player.interpreter import collector_paused
from player.wire.complaints import (
    _MISSING_VALUE,
    _check_int,
    _convert,
    _explain,
    _show,
    _type_name,
    _wrong,
)
from player.wire.fields import _minutes, parse_manifest_instant
from player.wire.structs import (
    _ALL_DAYS,
    _HEX_DIGITS,
    _SHA256_TEXT,
    _W,
    SCHEMA_MAJOR,
    _AssetWire,
    _DeletedWire,
    _DeviceWire,
    _ManifestWire,
    _OverrideWire,
    _PlaylistWire,
    _ScheduleWire,
)

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
                w.loudness_lufs,
                w.true_peak_dbtp,
                w.cue_in_ms,
                w.cue_out_ms,
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
        out.append(Playlist(w.id, w.name or "", items, w.version, w.crossfade_ms or 0))
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


def _overrides(wires: list[_OverrideWire], instants: _Instants) -> tuple[Override, ...]:
    _reject_repeated_ids([w.id for w in wires], "overrides")
    out: list[Override] = []
    for i, w in enumerate(wires):
        path = f"overrides[{i}]"
        created_at = instants.required(w.created_at, f"{path}.created_at")
        until = instants.required(w.until, f"{path}.until")
        if until <= created_at:
            raise ManifestError("must be later than created_at", f"{path}.until")
        out.append(Override(w.id, w.playlist_id, w.target, until, created_at))
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
        overrides=tuple(wire.overrides or ()),
    )


def _check_references(m: Manifest) -> None:
    asset_ids = {a.id for a in m.assets}
    playlist_ids = {p.id for p in m.playlists}
    schedule_ids = {s.id for s in m.schedules}
    override_ids = {o.id for o in m.overrides}
    for kind, listed, deleted in (
        ("assets", asset_ids, m.deleted.assets),
        ("playlists", playlist_ids, m.deleted.playlists),
        ("schedules", schedule_ids, m.deleted.schedules),
        ("overrides", override_ids, m.deleted.overrides),
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
    used_playlists.update(override.playlist_id for override in m.overrides)
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
    for oi, override in enumerate(m.overrides):
        path = f"overrides[{oi}].playlist_id"
        if override.playlist_id in gone_playlists:
            raise ManifestError(f"refers to deleted playlist {_show(override.playlist_id)}", path)
        if m.full and override.playlist_id not in playlist_ids:
            raise ManifestError(f"refers to unknown playlist {_show(override.playlist_id)}", path)


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


def decode_manifest(raw: bytes) -> Manifest:
    """Decode and validate manifest bytes; raise ``ManifestError`` naming the bad field.

    The one validation path: ``sync`` and ``import`` both call it. Nothing but
    ``ManifestError`` leaves it (see the module docstring).
    """
    try:
        # ~200k new long-lived objects, none in a cycle: walking them is a third
        # of the decoding time (docs/BENCHMARKS.md).
        with collector_paused():
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
        overrides=_overrides(wire.overrides or [], instants),
    )
    _check_references(manifest)
    return manifest
