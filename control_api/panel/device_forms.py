"""The Devices section's add and edit form: read from the posted fields, checked field
by field with the JSON API's own body rules (``resources.bodies``), so a value the
API refuses is refused here with the same words, shown next to its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from control_api.core.validation import (
    MAX_GROUP_CHARS,
    MAX_GROUPS,
    MAX_NAME_CHARS,
    timezone_names,
)
from control_api.errors import InvalidField
from control_api.model_fields import MAX_TIMEZONE_CHARS
from control_api.resources import bodies

__all__ = [
    "DeviceForm",
    "changes_to_save",
    "check_device_form",
    "device_form",
    "read_device_form",
    "timezone_names",
]

FIELDS = ("name", "timezone", "groups")
CONFLICT_MESSAGE = "Changed by someone else — reload"
# What a form field may hold before it is cut (the checks then refuse the cut value
# as too long, and the form shows at most this much of what was typed).
_MAX_TYPED = {
    "name": MAX_NAME_CHARS + 1,
    "timezone": MAX_TIMEZONE_CHARS + 1,
    "groups": (MAX_GROUP_CHARS + 2) * (MAX_GROUPS + 1),
}


@dataclass
class DeviceForm:
    """The form's values as typed (shown again after a refusal) and its errors by field."""

    name: str = ""
    timezone: str = "UTC"
    groups: str = ""  # comma-separated
    errors: dict[str, str] = field(default_factory=dict)
    # The edit form's values when it was shown (hidden fields): a save changes only
    # the fields this director changed, so it never puts back what another changed.
    shown: dict[str, str] = field(default_factory=dict)

    def refuse(self, refusal: InvalidField) -> None:
        """Show ``refusal`` next to its field: ``groups[2]`` is the groups field."""
        name = refusal.field.split("[", 1)[0]
        message = refusal.message.removeprefix(f"{refusal.field}: ")
        if name == "groups" and refusal.field != "groups":
            message = f"group {refusal.field[len('groups[') : -1]}: {message}"
        self.errors[name if name in FIELDS else "form"] = message


def group_names(text: str) -> list[str]:
    """``"north, tills,,"`` → ``["north", "tills"]`` (blanks between commas dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def read_device_form(fields: Mapping[str, str]) -> DeviceForm:
    typed = {name: fields.get(name, "")[: _MAX_TYPED[name]].strip() for name in FIELDS}
    shown = {
        name: fields[f"shown_{name}"][: _MAX_TYPED[name]].strip()
        for name in FIELDS
        if f"shown_{name}" in fields
    }
    return DeviceForm(
        name=typed["name"], timezone=typed["timezone"], groups=typed["groups"], shown=shown
    )


def _comparable(name: str, text: str) -> object:
    return group_names(text) if name == "groups" else text


def changes_to_save(
    form: DeviceForm, checked: Mapping[str, Any], now: DeviceForm
) -> dict[str, Any]:
    """Of ``checked`` (the form's valid values), the fields this director changed.

    ``now`` is the device as stored. A field changed here that someone else also
    changed since the form was shown refuses the save (``form.errors["form"]``,
    nothing returned). A post without the shown values (an add form, a script)
    changes every field.
    """
    if not form.shown:
        return dict(checked)
    changed: dict[str, Any] = {}
    for name, value in checked.items():
        was = _comparable(name, form.shown.get(name, ""))
        if _comparable(name, getattr(form, name)) == was:
            continue  # not touched here: whatever is stored stays
        if _comparable(name, getattr(now, name)) != was:
            form.errors["form"] = CONFLICT_MESSAGE
            return {}
        changed[name] = value
    return changed


def check_device_form(form: DeviceForm) -> dict[str, Any]:
    """The form as the API's ``PATCH`` body would give it (every field), or ``{}`` with
    ``form.errors`` naming each refused field."""
    body: dict[str, Any] = {
        "name": form.name,
        "timezone": form.timezone,
        "groups": group_names(form.groups),
    }
    checked: dict[str, Any] = {}
    if not form.name:  # the API's words for it are msgspec's "length >= 1"
        form.refuse(InvalidField("name", "must not be empty"))
        del body["name"]
    for name, value in body.items():
        try:
            checked |= bodies.device_changes({name: value})
        except InvalidField as refusal:
            form.refuse(refusal)
    return {} if form.errors else checked


def device_form(device: Any) -> DeviceForm:
    """The edit form filled with what the device has now (and shown so)."""
    form = DeviceForm(device.name, device.timezone, ", ".join(device.groups or ()))
    form.shown = {name: getattr(form, name) for name in FIELDS}
    return form
