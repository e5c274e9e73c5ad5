"""Range / If-Range / If-None-Match rules (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core.ranges import (
    ByteRange,
    RangeOutcome,
    content_range,
    if_none_match_matches,
    if_range_allows,
    parse_range,
    unsatisfied_content_range,
)

FULL = RangeOutcome.FULL
UNSAT = RangeOutcome.UNSATISFIABLE


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 1000, FULL),
        ("bytes=0-499", 1000, ByteRange(0, 499)),
        ("bytes=500-999", 1000, ByteRange(500, 999)),
        ("bytes=0-0", 1000, ByteRange(0, 0)),
        ("bytes=999-999", 1000, ByteRange(999, 999)),
        # open range
        ("bytes=100-", 1000, ByteRange(100, 999)),
        # suffix ranges
        ("bytes=-500", 1000, ByteRange(500, 999)),
        ("bytes=-1", 1000, ByteRange(999, 999)),
        ("bytes=-5000", 1000, ByteRange(0, 999)),
        ("bytes=-0", 1000, UNSAT),
        # past the end: last clamped, first past the end unsatisfiable
        ("bytes=900-5000", 1000, ByteRange(900, 999)),
        ("bytes=1000-", 1000, UNSAT),
        ("bytes=1000-2000", 1000, UNSAT),
        ("bytes=99999999999999999999999999999999999999-", 1000, UNSAT),
        ("bytes=0-99999999999999999999999999999999999999", 1000, ByteRange(0, 999)),
        # whitespace and case are tolerated
        ("  Bytes = 10-19 ", 1000, ByteRange(10, 19)),
        ("bytes=10-19,", 1000, ByteRange(10, 19)),
        # multiple ranges: whole file with 200 (documented choice)
        ("bytes=0-1,5-6", 1000, FULL),
        ("bytes=0-1, -2", 1000, FULL),
        ("bytes=2000-3000,4000-5000", 1000, FULL),
        # malformed → ignored
        ("bytes=", 1000, FULL),
        ("bytes=abc", 1000, FULL),
        ("bytes=5-1", 1000, FULL),
        ("bytes=-", 1000, FULL),
        ("bytes=1-2-3", 1000, FULL),
        ("bytes=+1-2", 1000, FULL),
        ("bytes=1 -2", 1000, FULL),
        ("bytes=--5", 1000, FULL),
        ("bytes=٣-٤", 1000, FULL),  # non-ASCII digits are not digits on the wire
        ("items=0-5", 1000, FULL),
        ("0-5", 1000, FULL),
        ("", 1000, FULL),
        # zero-length file
        ("bytes=0-", 0, UNSAT),
        ("bytes=0-0", 0, UNSAT),
        ("bytes=-10", 0, FULL),
        ("bytes=-0", 0, UNSAT),
        (None, 0, FULL),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_negative_size_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="size_bytes"):
        parse_range("bytes=0-1", -1)


@given(
    size=st.integers(min_value=0, max_value=10**12),
    first=st.integers(min_value=0, max_value=10**13),
    last=st.one_of(st.none(), st.integers(min_value=0, max_value=10**13)),
)
def test_int_range_is_always_inside_the_file(size: int, first: int, last: int | None) -> None:
    header = f"bytes={first}-{'' if last is None else last}"
    result = parse_range(header, size)
    if last is not None and last < first:
        assert result is FULL
    elif first >= size:
        assert result is UNSAT
    else:
        assert isinstance(result, ByteRange)
        assert result.start == first
        assert 0 <= result.start <= result.end < size
        assert result.end == (size - 1 if last is None else min(last, size - 1))


@given(size=st.integers(min_value=1, max_value=10**12), suffix=st.integers(1, 10**13))
def test_suffix_range_selects_the_last_bytes(size: int, suffix: int) -> None:
    result = parse_range(f"bytes=-{suffix}", size)
    assert isinstance(result, ByteRange)
    assert result.end == size - 1
    assert result.length_bytes == min(size, suffix)


@given(header=st.text(max_size=60), size=st.integers(min_value=0, max_value=10**9))
def test_any_header_gives_a_valid_answer(header: str, size: int) -> None:
    result = parse_range(header, size)
    if isinstance(result, ByteRange):
        assert 0 <= result.start <= result.end < size
    else:
        assert result in (FULL, UNSAT)


def test_content_range_values() -> None:
    assert content_range(ByteRange(0, 9), 100) == "bytes 0-9/100"
    assert unsatisfied_content_range(100) == "bytes */100"
    assert ByteRange(10, 19).length_bytes == 10


ETAG = '"' + "a" * 64 + '"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, True),
        (ETAG, True),
        (f"  {ETAG} ", True),
        ("W/" + ETAG, False),  # weak tags never validate a range
        ('"' + "b" * 64 + '"', False),
        ("Wed, 21 Oct 2015 07:28:00 GMT", False),  # we send no Last-Modified
        ("", False),
    ],
)
def test_if_range(header: str | None, expected: bool) -> None:
    assert if_range_allows(header, ETAG) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        (ETAG, True),
        ("W/" + ETAG, True),  # weak comparison
        ("*", True),
        (f'"x", {ETAG}', True),
        (f'"x,y",{ETAG}', True),
        ('"x,y"', False),
        ('"' + "b" * 64 + '"', False),
        ("a" * 64, False),  # unquoted: malformed
        ('"unterminated', False),
        ("", False),
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert if_none_match_matches(header, ETAG) is expected
