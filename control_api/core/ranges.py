"""Byte ranges and conditional requests for media responses (RFC 9110 §13, §14). Pure.

Choices, all allowed by RFC 9110 (a server MAY ignore ``Range``):

- A malformed ``Range``, another unit than ``bytes``, or more than one range
  gives ``FULL`` (200 with the whole file). Players only ever ask for one range
  (resume), and refusing multipart keeps the serving path small and safe
  against range-amplification.
- ``first-last`` with ``last`` past the end is clamped to the last byte; a
  suffix ``-N`` longer than the file is the whole file (as a 206).
- ``first`` at or past the end, or a suffix of length 0, is unsatisfiable (416).
- A zero-length file has no satisfiable int-range (416); a suffix range on it
  gives ``FULL`` (an empty 200), since ``Content-Range`` cannot express an
  empty range.
- ``If-Range`` honours ``Range`` only for an exact strong ETag match; a weak
  tag, another tag or a date (we send no ``Last-Modified``) gives the full file.
- ``If-None-Match`` uses weak comparison, ``*`` matches any stored file.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ByteRange",
    "RangeOutcome",
    "content_range",
    "if_none_match_matches",
    "if_range_allows",
    "parse_range",
    "unsatisfied_content_range",
]

# Longer numbers than this are beyond any file; avoids int() on huge strings.
_MAX_DIGITS = 30
_HUGE: int = 10**_MAX_DIGITS


class RangeOutcome(enum.Enum):
    """What to serve when the request does not select one satisfiable range."""

    FULL = "full"  # 200 with the whole representation
    UNSATISFIABLE = "unsatisfiable"  # 416 with Content-Range: bytes */size


@dataclass(frozen=True)
class ByteRange:
    """One satisfiable range; ``end`` is inclusive (as in Content-Range)."""

    start: int
    end: int

    @property
    def length_bytes(self) -> int:
        return self.end - self.start + 1


class _MalformedError(Exception):
    pass


def _number(text: str) -> int:
    if not text or not text.isascii() or not text.isdigit():
        raise _MalformedError
    digits = text.lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        return _HUGE
    return int(digits)


def parse_range(header: str | None, size_bytes: int) -> ByteRange | RangeOutcome:
    """Evaluate a ``Range`` header against a representation of ``size_bytes``.

    Returns a ``ByteRange`` (206), ``RangeOutcome.FULL`` (200, also when the
    header is absent, malformed or asks for several ranges) or
    ``RangeOutcome.UNSATISFIABLE`` (416).
    """
    if size_bytes < 0:
        raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
    if header is None:
        return RangeOutcome.FULL
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return RangeOutcome.FULL
    parts = [p.strip() for p in spec.split(",")]
    specs = [p for p in parts if p]
    if len(specs) != 1:
        return RangeOutcome.FULL
    first_text, dash, last_text = specs[0].partition("-")
    if not dash:
        return RangeOutcome.FULL
    try:
        if first_text == "":
            suffix_bytes = _number(last_text)
            if suffix_bytes == 0:
                return RangeOutcome.UNSATISFIABLE
            if size_bytes == 0:
                return RangeOutcome.FULL
            return ByteRange(max(0, size_bytes - suffix_bytes), size_bytes - 1)
        first = _number(first_text)
        last = _number(last_text) if last_text != "" else None
    except _MalformedError:
        return RangeOutcome.FULL
    if last is not None and last < first:
        return RangeOutcome.FULL  # invalid syntax per RFC 9110 §14.1.1: ignore
    if first >= size_bytes:
        return RangeOutcome.UNSATISFIABLE
    end = size_bytes - 1 if last is None else min(last, size_bytes - 1)
    return ByteRange(first, end)


def content_range(byte_range: ByteRange, size_bytes: int) -> str:
    """``Content-Range`` value of a 206."""
    return f"bytes {byte_range.start}-{byte_range.end}/{size_bytes}"


def unsatisfied_content_range(size_bytes: int) -> str:
    """``Content-Range`` value of a 416."""
    return f"bytes */{size_bytes}"


def _entity_tags(header: str) -> list[str]:
    # An opaque tag may itself contain commas, so scan quotes, not commas.
    tags: list[str] = []
    i = 0
    n = len(header)
    while i < n:
        c = header[i]
        if c in " \t,":
            i += 1
            continue
        weak = header.startswith("W/", i)
        if weak:
            i += 2
        if i >= n or header[i] != '"':
            raise _MalformedError
        close = header.find('"', i + 1)
        if close < 0:
            raise _MalformedError
        tags.append(("W/" if weak else "") + header[i : close + 1])
        i = close + 1
    return tags


def if_none_match_matches(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` matches ``etag`` (weak comparison): answer 304."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    try:
        tags = _entity_tags(header)
    except _MalformedError:
        return False
    opaque = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == opaque for tag in tags)


def if_range_allows(header: str | None, etag: str) -> bool:
    """True when ``Range`` may be honoured: no ``If-Range``, or an exact strong match."""
    if header is None:
        return True
    value = header.strip()
    if etag.startswith("W/") or value.startswith("W/"):
        return False
    return value == etag
