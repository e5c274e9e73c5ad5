"""What the device page shows of its remote commands: the buttons, the volume form, and
each command's result in a line (the device's result is free JSON: never trusted)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from control_api.core.device_health import MAX_TEXT_CHARS
from control_api.services.commands import CommandView
from lomuz_rules.commands import COMMAND_TYPES, MAX_VOLUME

OPEN_STATES = frozenset({"pending", "delivered"})  # the list refreshes while one is
# The buttons, in the order the page shows them (volume has its own form).
BUTTONS: tuple[tuple[str, str], ...] = (
    ("sync", "Sync now"),
    ("skip", "Skip"),
    ("restart_playback", "Restart playback"),
    ("snapshot", "Snapshot"),
)
TYPE_LABELS = dict(BUTTONS) | {"volume": "Volume"}
MAX_SUMMARY_PARTS = 6
_WHOLE_NUMBER = re.compile(r"[0-9]{1,4}")


@dataclass
class CommandForm:
    """A posted command: its type and the volume as typed, and the errors by field."""

    type: str = ""
    volume: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def read_command_form(fields: Mapping[str, str]) -> CommandForm:
    return CommandForm(
        type=fields.get("type", "")[:20].strip(), volume=fields.get("volume", "")[:10].strip()
    )


def check_command_form(form: CommandForm) -> tuple[str, int | None] | None:
    """(type, value) to send, or None with ``form.errors`` saying why not."""
    if form.type not in COMMAND_TYPES:
        form.errors["type"] = "choose one of the commands"
        return None
    if form.type != "volume":
        return form.type, None
    volume = int(form.volume) if _WHOLE_NUMBER.fullmatch(form.volume) else None
    if volume is None or not 0 <= volume <= MAX_VOLUME:
        form.errors["volume"] = f"must be a whole number 0..{MAX_VOLUME}"
        return None
    return "volume", volume


@dataclass(frozen=True)
class CommandRow:
    id: str
    type: str
    label: str
    state: str
    summary: str
    created_at: datetime
    updated_at: datetime


def command_rows(views: Sequence[CommandView]) -> list[CommandRow]:
    return [
        CommandRow(
            id=v.row.id,
            type=v.row.type,
            label=TYPE_LABELS.get(v.row.type, v.row.type)
            + (f" {v.row.value}" if v.row.value is not None else ""),
            state=v.state,
            summary=result_summary(v.row.type, v.row.result),
            created_at=v.row.created_at,
            updated_at=v.updated_at,
        )
        for v in views
    ]


def any_open(rows: Sequence[CommandRow]) -> bool:
    return any(row.state in OPEN_STATES for row in rows)


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)[:MAX_TEXT_CHARS]
    return None


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def result_summary(command_type: str, result: object) -> str:
    """A command's result in a line: the snapshot's item, tier and volume; a failure's
    error; any other result's first few plain fields. "" for none."""
    r = _dict(result)
    if not r:
        return ""
    if "error" in r:
        return f"error: {_text(r['error']) or 'unknown'}"
    parts: list[str] = []
    if command_type == "snapshot":
        item = _dict(r.get("item"))
        shown = _text(item.get("title")) or _text(item.get("asset_id"))
        parts.append(f"item {shown}" if shown else "no item")
        for name, label in (("tier", "tier"), ("state", "state")):
            if _text(r.get(name)):
                parts.append(f"{label} {_text(r.get(name))}")
        if _text(r.get("volume")) is not None:
            parts.append(f"volume {_text(r.get('volume'))}%")
        return ", ".join(parts)
    for key, value in r.items():
        text = _text(value)
        if isinstance(key, str) and text is not None:
            parts.append(f"{key[:40].replace('_', ' ')} {text}")
        if len(parts) == MAX_SUMMARY_PARTS:
            break
    return ", ".join(parts)
