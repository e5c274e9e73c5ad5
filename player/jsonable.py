"""Turning the player's values (dataclasses, enums, instants, paths) into JSON data."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from player.wire import format_instant


def json_default(value: object) -> object:
    """``json.dumps(default=...)`` hook: instants as RFC 3339 UTC, enums by value."""
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset | set | tuple):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def plain(value: object) -> Any:
    """A value (dataclass, mapping, scalar) as plain JSON-able data."""
    return json.loads(json.dumps(value, default=json_default))
