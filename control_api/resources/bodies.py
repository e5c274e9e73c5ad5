"""JSON request bodies → the typed values the services take (``core.validation`` rules)."""

from __future__ import annotations

from typing import Any

from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.services.assets import EDITABLE as ASSET_EDITABLE
from control_api.services.devices import EDITABLE as DEVICE_EDITABLE
from control_api.services.schedules import ScheduleFields

MAX_PLAYLIST_ITEMS = 10_000


def asset_changes(body: dict[str, Any]) -> dict[str, Any]:
    v.check_fields(body, ASSET_EDITABLE)
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = v.as_opt_str(body["title"], "title")
    if "emergency" in body:
        changes["emergency"] = v.as_bool(body["emergency"], "emergency")
    for key in ("valid_from", "valid_until"):
        if key in body:
            changes[key] = v.as_opt_instant(body[key], key)
    if "duration_ms" in body:
        changes["duration_ms"] = v.as_opt_int(
            body["duration_ms"], "duration_ms", minimum=v.MIN_DURATION_MS
        )
    return changes


def playlist(body: dict[str, Any]) -> tuple[str, list[tuple[str, int | None]]]:
    v.check_fields(body, ("name", "items"), ("name", "items"))
    name = v.as_str(body["name"], "name")
    raw_items = body["items"]
    if not isinstance(raw_items, list):
        raise InvalidField("items", "must be a list")
    if len(raw_items) > MAX_PLAYLIST_ITEMS:
        raise InvalidField("items", f"at most {MAX_PLAYLIST_ITEMS} items")
    items: list[tuple[str, int | None]] = []
    for index, item in enumerate(raw_items):
        field = f"items[{index}]"
        if not isinstance(item, dict):
            raise InvalidField(field, "must be an object")
        v.check_fields(item, ("asset_id", "duration_ms"), ("asset_id",), prefix=f"{field}.")
        asset_id = v.as_str(item["asset_id"], f"{field}.asset_id")
        duration = v.as_opt_int(
            item.get("duration_ms"), f"{field}.duration_ms", minimum=v.MIN_DURATION_MS
        )
        items.append((asset_id, duration))
    return name, items


def new_device(body: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(name, timezone, groups)."""
    v.check_fields(body, DEVICE_EDITABLE, ("name",))
    name = v.as_str(body["name"], "name")
    timezone = v.parse_timezone(body.get("timezone", "UTC"), "timezone")
    groups = v.parse_groups(body.get("groups", []), "groups")
    return name, timezone, groups


def device_changes(body: dict[str, Any]) -> dict[str, Any]:
    v.check_fields(body, DEVICE_EDITABLE)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = v.as_str(body["name"], "name")
    if "timezone" in body:
        changes["timezone"] = v.parse_timezone(body["timezone"], "timezone")
    if "groups" in body:
        changes["groups"] = v.parse_groups(body["groups"], "groups")
    return changes


def schedule(body: dict[str, Any]) -> ScheduleFields:
    v.check_fields(
        body,
        (
            "playlist_id",
            "target",
            "priority",
            "days",
            "start_time",
            "end_time",
            "valid_from",
            "valid_until",
        ),
        ("playlist_id", "target"),
    )
    playlist_id = v.as_str(body["playlist_id"], "playlist_id")
    kind, value = v.parse_target(body["target"], "target")
    return ScheduleFields(
        playlist_id=playlist_id,
        target_kind=kind,
        target_value=value,
        priority=v.as_int(body.get("priority", 0), "priority"),
        days=tuple(v.parse_days(body.get("days", [1, 2, 3, 4, 5, 6, 7]), "days")),
        start_time=v.parse_time_of_day(
            body.get("start_time", "00:00"), "start_time", is_end=False
        ),
        end_time=v.parse_time_of_day(body.get("end_time", "24:00"), "end_time", is_end=True),
        valid_from=v.as_opt_instant(body.get("valid_from"), "valid_from"),
        valid_until=v.as_opt_instant(body.get("valid_until"), "valid_until"),
    )


def enrollment(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(code, hardware)."""
    v.check_fields(body, ("enrollment_code", "hardware"), ("enrollment_code",))
    code = v.as_str(body["enrollment_code"], "enrollment_code")
    hardware = body.get("hardware")
    if hardware is not None and not isinstance(hardware, dict):
        raise InvalidField("hardware", "must be an object")
    v.check_free_json(hardware, "hardware")
    return code, hardware
