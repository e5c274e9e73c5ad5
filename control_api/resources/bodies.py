"""JSON request bodies → the typed values the services take.

Each body decodes through its struct of ``control_api.models`` (types, bounds,
patterns, unknown fields); the rules no single field states stay in
``core.validation`` (instants, time zones, a target's one key). A refusal is
an :class:`InvalidField` naming the field as the API always has
(``items[0].asset_id``), whichever layer refused it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from control_api import models as m
from control_api import models_commands as mc
from control_api import models_webhooks as mw
from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.model_fields import PATTERN_MESSAGES
from control_api.services.overrides import OverrideFields
from control_api.services.schedules import ScheduleFields
from control_api.services.webhooks import NewWebhook
from lomuz_rules.commands import AckState, value_problem

_Model = TypeVar("_Model", bound=msgspec.Struct)
# msgspec's "<what> - at `$.items[0].asset_id`"; no "at" for the body itself.
_AT = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>.*)`)?", re.DOTALL)
_NAMED = re.compile(r"Object (?P<kind>contains unknown|missing required) field `(?P<name>.*)`")


def decode(body: dict[str, Any], model: type[_Model]) -> _Model:
    """``body`` as ``model``, or InvalidField naming the first field refused."""
    try:
        return msgspec.convert(body, model)
    except msgspec.ValidationError as exc:
        raise invalid_field(str(exc)) from None


def invalid_field(text: str) -> InvalidField:
    """msgspec's validation message in the API's terms (field path, message, code)."""
    match = _AT.fullmatch(text)
    assert match is not None  # the pattern matches any text
    what, path = match["what"], (match["path"] or "").removeprefix(".")
    named = _NAMED.fullmatch(what)
    if named is not None:
        field = f"{path}.{named['name']}" if path else named["name"]
        if named["kind"] == "contains unknown":
            return InvalidField(field, "unknown field", "unknown_field")
        return InvalidField(field, "is required", "missing_field")
    for pattern, message in PATTERN_MESSAGES.items():
        if what.endswith(f"matching regex {pattern!r}"):
            return InvalidField(path or "body", message)
    return InvalidField(path or "body", what[:1].lower() + what[1:])


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields a patch body named (the others are UNSET)."""
    return {
        name: getattr(struct, name)
        for name in struct.__struct_fields__
        if getattr(struct, name) is not msgspec.UNSET
    }


def asset_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes = _given(decode(body, m.AssetPatch))
    for key in ("valid_from", "valid_until"):
        if key in changes:
            changes[key] = v.as_opt_instant(changes[key], key)
    return changes


def playlist(body: dict[str, Any]) -> tuple[str, list[tuple[str, int | None]]]:
    name, items, _ = playlist_with_crossfade(body)
    return name, items


def playlist_with_crossfade(body: dict[str, Any]) -> tuple[str, list[tuple[str, int | None]], int]:
    """(name, items, crossfade_ms; 0 when absent: a PUT replaces the whole playlist)."""
    given = decode(body, m.PlaylistInput)
    items = [(item.asset_id, item.duration_ms) for item in given.items]
    return given.name, items, given.crossfade_ms


def new_device(body: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(name, timezone, groups)."""
    given = decode(body, m.DeviceInput)
    return given.name, v.parse_timezone(given.timezone, "timezone"), sorted(set(given.groups))


def device_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes = _given(decode(body, m.DevicePatch))
    if "timezone" in changes:
        changes["timezone"] = v.parse_timezone(changes["timezone"], "timezone")
    if "groups" in changes:
        changes["groups"] = sorted(set(changes["groups"]))
    return changes


def schedule(body: dict[str, Any]) -> ScheduleFields:
    given = decode(body, m.ScheduleInput)
    kind, value = v.parse_target(_given(given.target), "target")
    return ScheduleFields(
        playlist_id=given.playlist_id,
        target_kind=kind,
        target_value=value,
        priority=given.priority,
        days=tuple(sorted(set(given.days))),
        start_time=given.start_time,
        end_time=given.end_time,
        valid_from=v.as_opt_instant(given.valid_from, "valid_from"),
        valid_until=v.as_opt_instant(given.valid_until, "valid_until"),
    )


def override(body: dict[str, Any]) -> OverrideFields:
    given = decode(body, m.OverrideInput)
    kind, value = v.parse_target(_given(given.target), "target")
    return OverrideFields(
        playlist_id=given.playlist_id,
        target_kind=kind,
        target_value=value,
        until=v.parse_instant(given.until, "until"),
    )


def enrollment(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(code, hardware)."""
    given = decode(body, m.EnrollRequest)
    v.check_free_json(given.hardware, "hardware")
    return given.enrollment_code, given.hardware


def command(body: dict[str, Any]) -> tuple[str, int | None, datetime | None]:
    """A new remote command: (type, value, expires_at); the value checked against the type."""
    given = decode(body, mc.CommandInput)
    problem = value_problem(given.type, given.value)
    if problem is not None:
        raise InvalidField("value", problem)
    return given.type, given.value, v.as_opt_instant(given.expires_at, "expires_at")


def command_ack(body: dict[str, Any]) -> tuple[AckState, dict[str, Any] | None]:
    given = decode(body, mc.CommandAck)
    if given.result is not None:
        v.check_free_json(given.result, "result")
    return given.state, given.result


def webhook(body: dict[str, Any]) -> NewWebhook:
    given = decode(body, mw.WebhookInput)
    return NewWebhook(given.url, list(given.events), given.offline_after_s, given.sync_failures)
