"""Pure validation of director and device input. Every failure names the field.

The rules a field states alone (types, bounds, patterns, unknown fields) are
declared on the request structs of ``control_api.models``; these are the rest.
Instants are RFC 3339 with an offset and come back in UTC, between
:data:`MIN_INSTANT` and :data:`MAX_INSTANT`. No string holds NUL (PostgreSQL
text cannot) and none is longer than its column: the ``MAX_*_CHARS`` below are
the column sizes of ``control_api/store/models.py``, enforced (here and in the
models) so that the database never refuses (a refusal there is a 500, and for
proof of play a batch blocked for good).
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from control_api.errors import InvalidField, VersionMismatch

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# fromisoformat (C) stops at a NUL and takes non-ASCII digits: allow only these.
_INSTANT_CHARS = re.compile(r"[0-9TtZzW:.,+\- ]+")
MAX_NAME_CHARS = 200  # names and titles (String(200))
MAX_ID_CHARS = 40  # object ids (String(40))
MAX_GROUP_CHARS = 100  # a group name (Schedule.target_value String(100))
MAX_GROUPS = 100  # groups on one device
MAX_CONTENT_TYPE_CHARS = 200  # Asset.content_type String(200)
MAX_FILENAME_CHARS = 255  # Asset.filename String(255)
MAX_INSTANT_CHARS = 64
MIN_DURATION_MS = 1000  # an item plays for at least 1 s (PROTOCOL, Assets)
MAX_CROSSFADE_MS = 10_000  # a playlist's overlap of consecutive items (issue 14)
DEFAULT_LIMIT = 100  # a page of a list endpoint (?limit=)
MAX_LIMIT = 1000
# Files of the zoneinfo directory that are not zones of the world: "localtime" is
# the server's own zone (it exists only if /etc/localtime does), "Factory" a
# placeholder, "posixrules" a rule template.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
# Instants outside this range are refused: converting year 1 or 9999 with an
# offset to UTC overflows, and no play, window or schedule needs them.
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
# JSON bodies nest at most this deep (telemetry is the deepest: a few levels).
MAX_JSON_DEPTH = 32


def as_str(value: object, field: str, *, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if not value.strip():
        raise InvalidField(field, "must not be empty")
    if len(value) > max_chars:
        raise InvalidField(field, f"must be at most {max_chars} characters")
    if "\x00" in value:
        raise InvalidField(field, "must not contain NUL characters")
    return value


def parse_instant(value: object, field: str) -> datetime:
    """An RFC 3339 instant with an offset, returned in UTC; the one instant parser.

    Refused (422 naming ``field``): not a string, longer than
    :data:`MAX_INSTANT_CHARS`, unparseable, without an offset, or outside
    [:data:`MIN_INSTANT`, :data:`MAX_INSTANT`).
    """
    if not isinstance(value, str):
        raise InvalidField(field, "must be an RFC 3339 instant string")
    if len(value) > MAX_INSTANT_CHARS:
        raise InvalidField(field, f"must be at most {MAX_INSTANT_CHARS} characters")
    text = value.strip()
    try:
        if not _INSTANT_CHARS.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidField(field, f"not an RFC 3339 instant: {value!r}") from None
    if "T" not in text.upper() or parsed.tzinfo is None:
        raise InvalidField(
            field, "must be a date-time with a UTC offset, e.g. 2026-12-01T09:00:00Z"
        )
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not MIN_INSTANT <= in_utc < MAX_INSTANT:
        raise InvalidField(
            field,
            f"must be from {format_instant(MIN_INSTANT)} to before {format_instant(MAX_INSTANT)}",
        )
    return in_utc


def as_opt_instant(value: object, field: str) -> datetime | None:
    return None if value is None else parse_instant(value, field)


def check_window(valid_from: datetime | None, valid_until: datetime | None, field: str) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidField(field, "valid_until must be after valid_from")


def format_instant(value: datetime | None) -> str | None:
    """UTC RFC 3339 with a ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def _installed_zones() -> frozenset[str]:
    """``available_timezones()`` walks the tz database's files on every call (tens of
    ms): once per process is enough, the database does not change under it."""
    return frozenset(available_timezones())


def timezone_names() -> tuple[str, ...]:
    """Every zone :func:`parse_timezone` accepts, sorted (the panel suggests them)."""
    return _accepted_zones()


@cache
def _accepted_zones() -> tuple[str, ...]:
    return tuple(
        sorted(
            z
            for z in _installed_zones() | {"UTC"}
            if z not in _NOT_ZONES and not z.startswith(("posix/", "right/"))
        )
    )


def parse_timezone(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or value.startswith(("/", ".")) or ".." in value:
        raise InvalidField(field, "must be an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidField(field, f"unknown IANA time zone {value!r}") from None
    if (
        (value not in _installed_zones() and value != "UTC")
        or value in _NOT_ZONES
        or value.startswith(("posix/", "right/"))
    ):
        raise InvalidField(field, f"unknown IANA time zone {value!r}")
    return value


def parse_target(value: object, field: str) -> tuple[str, str]:
    """``{"device_id"}`` | ``{"group"}`` | ``{"all": true}`` → (kind, value)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidField(field, 'must be {"device_id": id}, {"group": name} or {"all": true}')
    ((key, item),) = value.items()
    if key == "device_id":
        return "device", as_str(item, f"{field}.device_id")
    if key == "group":
        return "group", as_str(item, f"{field}.group", max_chars=MAX_GROUP_CHARS)
    if key == "all":
        if item is not True:
            raise InvalidField(f"{field}.all", "must be true")
        return "all", ""
    raise InvalidField(f"{field}.{key}", "unknown field", "unknown_field")


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def canonical_uuid(value: str) -> str | None:
    """Any spelling of a UUID (``{...}``, upper case, no dashes, ``urn:uuid:``) in its
    one canonical form, lowercase hyphenated; None when ``value`` is not a UUID."""
    if len(value) > 45:  # "urn:uuid:" + 36
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def json_problem(value: object, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON document cannot be taken whole, or None.

    Problems: nested deeper than ``max_depth``, a non-finite number, a string or
    key with a lone surrogate (``"\\ud800"`` parses but is not Unicode: encoding
    it for the database or the answer fails). Iterative: depth costs no stack.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                return "a string is not valid Unicode (lone surrogate)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if _has_surrogate(key):
                        return "a key is not valid Unicode (lone surrogate)"
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def check_free_json(value: object, field: str) -> None:
    """A free-form object (telemetry, hardware) holds no NUL in any key or string."""
    stack: list[tuple[object, str]] = [(value, field)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidField(path, "must not contain NUL characters")
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise InvalidField(path, "keys must not contain NUL characters")
                stack.append((child, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_if_match(if_match: str | None, version: int) -> None:
    """VersionMismatch when ``if_match`` (an ``If-Match`` header) names another version;
    None means last writer wins.

    Strong comparison (RFC 9110 13.1.1): a weak tag ``W/"3"`` never matches."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or f'"{version}"' in tags or str(version) in tags:
        return
    raise VersionMismatch(version, if_match)
