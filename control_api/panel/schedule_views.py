"""The Schedules section's form (read, checked field by field) and what its list shows.

The rules across fields and against the tenant's data (an end equal to the start,
a validity window the wrong way round, an unknown playlist or device) are the
schedules service's; this module turns the form's text into its ``ScheduleFields``
and names each refusal after the form field it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.panel.forms import form_text
from control_api.services.schedules import ScheduleFields

WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))
TARGETS = (("device", "A device"), ("group", "A group"), ("all", "All devices"))
_START = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_END = re.compile(r"(([01][0-9]|2[0-3]):[0-5][0-9])|24:00")
# <input type="datetime-local"> sends "YYYY-MM-DDTHH:MM" (seconds when given).
_LOCAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")
MAX_PRIORITY = 2**31 - 1
# The service's field names -> the form's (the JSON API names the target's key).
_FORM_FIELD = {"target.device_id": "device_id", "target.group": "group"}


@dataclass
class ScheduleForm:
    """The form's values as typed (re-shown after a refusal) and its errors by field."""

    playlist_id: str = ""
    target: str = "group"
    device_id: str = ""
    group: str = ""
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    start_time: str = "00:00"
    end_time: str = "24:00"
    valid_from: str = ""
    valid_until: str = ""
    priority: str = "0"
    version: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def refuse(self, refusal: InvalidField) -> None:
        show_refusal(self.errors, refusal, _FORM_FIELD, FIELDS)

    @property
    def overnight(self) -> bool:
        return bool(self.start_time and self.end_time) and self.end_time < self.start_time


FIELDS = frozenset(ScheduleForm.__dataclass_fields__) - {"errors"}


def read(form: Mapping[str, str]) -> ScheduleForm:
    """The posted form as typed (each value cut to a little over its limit)."""
    return ScheduleForm(
        playlist_id=form_text(form, "playlist_id", v.MAX_NAME_CHARS),
        target=form_text(form, "target", 10),
        device_id=form_text(form, "device_id", v.MAX_NAME_CHARS),
        group=form_text(form, "group", v.MAX_GROUP_CHARS),
        days=tuple(day for day, _ in WEEKDAYS if form.get(f"day_{day}") == "on"),
        start_time=form_text(form, "start_time", 5),
        end_time=form_text(form, "end_time", 5),
        valid_from=form_text(form, "valid_from", v.MAX_INSTANT_CHARS),
        valid_until=form_text(form, "valid_until", v.MAX_INSTANT_CHARS),
        priority=form_text(form, "priority", 12),
        version=form_text(form, "version", 12),
    )


def of_schedule(schedule: Any) -> ScheduleForm:
    """A stored schedule (the service's row) in the form, to edit."""
    kind = schedule.target_kind
    return ScheduleForm(
        playlist_id=schedule.playlist_id,
        target=kind,
        device_id=schedule.target_value if kind == "device" else "",
        group=schedule.target_value if kind == "group" else "",
        days=tuple(sorted(schedule.days)),
        start_time=schedule.start_time,
        end_time=schedule.end_time,
        valid_from=_local_utc(schedule.valid_from),
        valid_until=_local_utc(schedule.valid_until),
        priority=str(schedule.priority),
        version=str(schedule.version),
    )


def _local_utc(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def fields_of(form: ScheduleForm) -> ScheduleFields | None:
    """The form as the service's fields, or None with ``form.errors`` saying why."""
    checks: dict[str, Callable[[], object]] = {
        "playlist_id": lambda: v.as_str(form.playlist_id, "playlist_id"),
        "target": lambda: _target(form),
        "days": lambda: _days(form.days),
        "start_time": lambda: _time_of_day(form.start_time, "start_time", _START),
        "end_time": lambda: _time_of_day(form.end_time, "end_time", _END),
        "valid_from": lambda: _instant(form.valid_from, "valid_from"),
        "valid_until": lambda: _instant(form.valid_until, "valid_until"),
        "priority": lambda: _priority(form.priority),
    }
    values: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except InvalidField as refusal:
            form.refuse(refusal)
    if form.errors:
        return None
    kind, value = values.pop("target")
    return ScheduleFields(target_kind=kind, target_value=value, **values)


def _target(form: ScheduleForm) -> tuple[str, str]:
    if form.target == "device":
        return "device", v.as_str(form.device_id, "device_id")
    if form.target == "group":
        return "group", v.as_str(form.group, "group", max_chars=v.MAX_GROUP_CHARS)
    if form.target == "all":
        return "all", ""
    raise InvalidField("target", "choose a device, a group or all devices")


def _days(days: tuple[int, ...]) -> tuple[int, ...]:
    if not days:
        raise InvalidField("days", "tick at least one day")
    return days


def _time_of_day(text: str, name: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(text):
        latest = "24:00" if name == "end_time" else "23:59"
        raise InvalidField(name, f'must be a time of day "HH:MM", 00:00 to {latest}')
    return text


def _instant(text: str, name: str) -> datetime | None:
    """Empty: no bound. A datetime-local value is UTC; an RFC 3339 instant is taken as is."""
    if not text:
        return None
    return v.parse_instant(f"{text}Z" if _LOCAL.fullmatch(text) else text, name)


def _priority(text: str) -> int:
    try:
        priority = int(text or "0")
    except ValueError:
        raise InvalidField("priority", "must be a whole number") from None
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidField("priority", f"must be from {-MAX_PRIORITY} to {MAX_PRIORITY}")
    return priority


# ------------------------------------------------------------------ the list


def days_text(days: list[int] | tuple[int, ...]) -> str:
    """``every day``, ``Mon to Fri``, ``Sat, Sun``, ``Mon, Wed, Fri``."""
    chosen = sorted(set(days))
    if chosen == [1, 2, 3, 4, 5, 6, 7]:
        return "every day"
    names = dict(WEEKDAYS)
    if len(chosen) > 2 and chosen == list(range(chosen[0], chosen[-1] + 1)):
        return f"{names[chosen[0]]} to {names[chosen[-1]]}"
    return ", ".join(names[d] for d in chosen if d in names)


def window_text(start_time: str, end_time: str) -> str:
    if start_time == "00:00" and end_time == "24:00":
        return "all day"
    text = f"{start_time}-{end_time}"
    return f"{text} (overnight, into the next day)" if end_time < start_time else text


def validity_text(valid_from: datetime | None, valid_until: datetime | None) -> str:
    if valid_from is None and valid_until is None:
        return "always"
    start = "" if valid_from is None else f"from {_local_utc(valid_from).replace('T', ' ')}"
    end = "" if valid_until is None else f"until {_local_utc(valid_until).replace('T', ' ')}"
    return f"{start} {end} UTC".strip()


def target_text(schedule: Any, device_names: Mapping[str, str]) -> str:
    if schedule.target_kind == "all":
        return "all devices"
    if schedule.target_kind == "group":
        return f"group {schedule.target_value}"
    return f"device {device_names.get(schedule.target_value, schedule.target_value)}"


def show_refusal(
    errors: dict[str, str],
    refusal: InvalidField,
    renames: Mapping[str, str],
    fields: frozenset[str],
) -> None:
    """Show ``refusal`` next to its form field (``renames``: the API's field name to the
    form's), the message without the field's name; one the form lacks goes to "form".
    The first refusal of a field stands (the playlist's lookup comes before its checks)."""
    name = renames.get(refusal.field, refusal.field)
    message = refusal.message.removeprefix(f"{refusal.field}: ")
    errors.setdefault(name if name in fields else "form", message)
