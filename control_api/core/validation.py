"""Pure validation of director and device input. Every failure names the field.

Rules: unknown fields are rejected (the API is a strict writer and a strict reader
of director input); instants are RFC 3339 with an offset and come back in UTC;
times of day are "HH:MM" with "24:00" only allowed as an end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from control_api.errors import Unprocessable

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME_CHARS = 200


def check_fields(
    body: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str] = (), prefix: str = ""
) -> None:
    """Reject unknown and missing fields."""
    allowed_set = set(allowed)
    for key in body:
        if key not in allowed_set:
            raise Unprocessable(f"{prefix}{key}", "unknown field", "unknown_field")
    for key in required:
        if key not in body:
            raise Unprocessable(f"{prefix}{key}", "is required", "missing_field")


def as_str(value: object, field: str, *, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str):
        raise Unprocessable(field, "must be a string")
    if not value.strip():
        raise Unprocessable(field, "must not be empty")
    if len(value) > max_chars:
        raise Unprocessable(field, f"must be at most {max_chars} characters")
    return value


def as_opt_str(value: object, field: str) -> str | None:
    return None if value is None else as_str(value, field)


def as_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise Unprocessable(field, "must be true or false")
    return value


def as_int(value: object, field: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unprocessable(field, "must be an integer")
    if minimum is not None and value < minimum:
        raise Unprocessable(field, f"must be at least {minimum}")
    if abs(value) > 2**31 - 1:
        raise Unprocessable(field, "is out of range")
    return value


def as_opt_int(value: object, field: str, *, minimum: int | None = None) -> int | None:
    return None if value is None else as_int(value, field, minimum=minimum)


def parse_instant(value: object, field: str) -> datetime:
    """An RFC 3339 instant with an offset, returned in UTC."""
    if not isinstance(value, str):
        raise Unprocessable(field, "must be an RFC 3339 instant string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Unprocessable(field, f"not an RFC 3339 instant: {value!r}") from None
    if "T" not in text.upper() or parsed.tzinfo is None:
        raise Unprocessable(
            field, "must be a date-time with a UTC offset, e.g. 2026-12-01T09:00:00Z"
        )
    return parsed.astimezone(UTC)


def as_opt_instant(value: object, field: str) -> datetime | None:
    return None if value is None else parse_instant(value, field)


def check_window(valid_from: datetime | None, valid_until: datetime | None, field: str) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise Unprocessable(field, "valid_until must be after valid_from")


def format_instant(value: datetime | None) -> str | None:
    """UTC RFC 3339 with a ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time_of_day(value: object, field: str, *, is_end: bool) -> str:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise Unprocessable(field, 'must be "HH:MM"')
    hours = int(value[:2])
    if hours == 24 and (value != "24:00" or not is_end):
        raise Unprocessable(field, '"24:00" is only allowed as an end time')
    return value


def parse_days(value: object, field: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise Unprocessable(field, "must be a non-empty list of ISO weekdays 1..7")
    days: set[int] = set()
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 7:
            raise Unprocessable(f"{field}[{index}]", "must be an ISO weekday 1..7")
        days.add(item)
    return sorted(days)


def parse_timezone(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or value.startswith(("/", ".")) or ".." in value:
        raise Unprocessable(field, "must be an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(field, f"unknown IANA time zone {value!r}") from None
    if value not in available_timezones() and value != "UTC":
        raise Unprocessable(field, f"unknown IANA time zone {value!r}")
    return value


def parse_groups(value: object, field: str) -> list[str]:
    if not isinstance(value, list):
        raise Unprocessable(field, "must be a list of group names")
    groups: set[str] = set()
    for index, item in enumerate(value):
        groups.add(as_str(item, f"{field}[{index}]", max_chars=100))
    return sorted(groups)


def parse_target(value: object, field: str) -> tuple[str, str]:
    """``{"device_id"}`` | ``{"group"}`` | ``{"all": true}`` → (kind, value)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise Unprocessable(field, 'must be {"device_id": id}, {"group": name} or {"all": true}')
    ((key, item),) = value.items()
    if key == "device_id":
        return "device", as_str(item, f"{field}.device_id")
    if key == "group":
        return "group", as_str(item, f"{field}.group", max_chars=100)
    if key == "all":
        if item is not True:
            raise Unprocessable(f"{field}.all", "must be true")
        return "all", ""
    raise Unprocessable(f"{field}.{key}", "unknown field", "unknown_field")


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))
