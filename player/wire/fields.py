"""Parsers of the wire's scalar forms: RFC 3339 instants and "HH:MM" times of day."""

from __future__ import annotations

from datetime import UTC, datetime

from player.errors import ManifestError
from player.wire.complaints import (
    _show,
    _wrong,
)
from player.wire.structs import (
    _END_TEXT,
    _END_TIME_OF_DAY_RE,
    _INSTANT_TEXT,
    _RFC3339_RE,
    _START_TEXT,
    _TIME_OF_DAY_RE,
    MAX_INSTANT,
    MIN_INSTANT,
)

# --- Public parsing helpers --------------------------------------------------


def parse_instant(value: object, path: str = "instant") -> datetime:
    """An RFC 3339 instant carrying a zone, as a tz-aware UTC datetime."""
    if not isinstance(value, str):
        raise _wrong(path, "an RFC 3339 instant string", value)
    if not _RFC3339_RE.search(value):
        raise ManifestError(f"must be {_INSTANT_TEXT}, got {_show(value)}", path)
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
    if (_END_TIME_OF_DAY_RE if allow_24 else _TIME_OF_DAY_RE).search(value):
        return _minutes(value)
    expected = _END_TEXT if allow_24 else _START_TEXT
    raise ManifestError(f"must be {expected}, got {_show(value)}", path)


def _minutes(hh_mm: str) -> int:
    """Minutes since midnight of an ``"HH:MM"`` that already matched its pattern."""
    return int(hh_mm[:2]) * 60 + int(hh_mm[3:])
