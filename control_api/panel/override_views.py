"""The "Play now" form (an override) and what the override lists show.

The form names a playlist (its id or its name, the schedule form's picker), a
target (the device of the page, a group, or all devices) and how long: a
duration from now, the end of the day, or a time (local to ``timezone``: the
device's on its page, UTC on the fleet page). The rules against the tenant's
data (the playlist, the device, ``until`` at most 31 days ahead) are the
overrides service's; refusals are shown next to the form field they name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.panel.forms import form_text
from control_api.panel.schedule_views import show_refusal
from control_api.services.overrides import OverrideFields

# until=<choice>: a duration from now, the end of the day, or the time in until_at.
DURATIONS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
}
UNTIL_CHOICES: tuple[tuple[str, str], ...] = (
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("eod", "End of the day"),
    ("at", "Until a time"),
)
TARGETS = (("device", "This device"), ("group", "A group"), ("all", "All devices"))
_LOCAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")
_FORM_FIELD = {"target.device_id": "target", "target.group": "group", "until_at": "until"}
FIELDS = frozenset({"playlist_id", "target", "group", "until", "form"})


@dataclass
class OverrideForm:
    """The form's values as typed (re-shown after a refusal) and its errors by field."""

    playlist_id: str = ""
    target: str = "all"
    device_id: str = ""
    group: str = ""
    until: str = "1h"
    until_at: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def refuse(self, refusal: InvalidField) -> None:
        show_refusal(self.errors, refusal, _FORM_FIELD, FIELDS)


def read(fields: Mapping[str, str]) -> OverrideForm:
    """The posted form as typed (each value cut to a little over its limit)."""
    return OverrideForm(
        playlist_id=form_text(fields, "playlist_id", v.MAX_NAME_CHARS),
        target=form_text(fields, "target", 10),
        device_id=form_text(fields, "device_id", v.MAX_NAME_CHARS),
        group=form_text(fields, "group", v.MAX_GROUP_CHARS),
        until=form_text(fields, "until", 10),
        until_at=form_text(fields, "until_at", v.MAX_INSTANT_CHARS),
    )


def until_of(form: OverrideForm, now: datetime, timezone: str) -> datetime:
    """When the override ends: now + a duration, the next local midnight in ``timezone``,
    or the local time ``until_at`` there."""
    if form.until in DURATIONS:
        return now + DURATIONS[form.until]
    zone = ZoneInfo(timezone)
    if form.until == "eod":
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, time(0), tzinfo=zone)
    if form.until != "at":
        raise InvalidField("until", "choose how long it plays")
    if not _LOCAL.fullmatch(form.until_at):
        raise InvalidField("until", f"give the time it ends, YYYY-MM-DD HH:MM ({timezone})")
    try:
        local = datetime.fromisoformat(form.until_at)
    except ValueError:
        raise InvalidField("until", "is not a real date and time") from None
    return local.replace(tzinfo=zone)


def fields_of(form: OverrideForm, now: datetime, timezone: str) -> OverrideFields | None:
    """The form as the service's fields (``playlist_id`` already resolved to an id), or
    None with ``form.errors`` saying why."""
    target: tuple[str, str] | None = None
    until: datetime | None = None
    try:
        v.as_str(form.playlist_id, "playlist_id")
    except InvalidField as refusal:
        form.refuse(refusal)
    try:
        target = _target(form)
    except InvalidField as refusal:
        form.refuse(refusal)
    try:
        until = until_of(form, now, timezone)
    except InvalidField as refusal:
        form.refuse(refusal)
    if form.errors or target is None or until is None:
        return None
    return OverrideFields(form.playlist_id, target[0], target[1], until)


def _target(form: OverrideForm) -> tuple[str, str]:
    if form.target == "device":
        return "device", v.as_str(form.device_id, "target.device_id")
    if form.target == "group":
        return "group", v.as_str(form.group, "group", max_chars=v.MAX_GROUP_CHARS)
    if form.target == "all":
        return "all", ""
    raise InvalidField("target", "choose this device, a group or all devices")


# ------------------------------------------------------------------ the lists


@dataclass(frozen=True)
class OverrideRow:
    id: str
    playlist: str
    target: str
    until: datetime


def override_rows(
    overrides: Sequence[Any], playlist_names: Mapping[str, str], device_names: Mapping[str, str]
) -> list[OverrideRow]:
    return [
        OverrideRow(
            id=o.id,
            playlist=playlist_names.get(o.playlist_id, o.playlist_id),
            target=target_text(o.target_kind, o.target_value, device_names),
            until=o.until,
        )
        for o in overrides
    ]


def target_text(kind: str, value: str, device_names: Mapping[str, str]) -> str:
    if kind == "all":
        return "all devices"
    if kind == "group":
        return f"group {value}"
    return f"device {device_names.get(value, value)}"
