"""Pure validation rules name the field."""

from __future__ import annotations

import pytest

from control_api.core import validation as v
from control_api.errors import InvalidField, VersionMismatch


@pytest.mark.parametrize("value", ["2026-01-01", "2026-01-01T00:00:00", 5, "soon"])
def test_instants_need_an_offset(value: object) -> None:
    with pytest.raises(InvalidField) as caught:
        v.parse_instant(value, "valid_from")
    assert caught.value.field == "valid_from"


def test_instants_come_back_in_utc() -> None:
    parsed = v.parse_instant("2026-06-01T12:00:00+02:00", "x")
    assert v.format_instant(parsed) == "2026-06-01T10:00:00Z"


def test_if_match_names_the_current_version_or_any_strongly() -> None:
    for given in (None, "*", '"3"', "3", '"1", "3"'):
        v.check_if_match(given, 3)
    for stale in ('"2"', 'W/"3"', '"30"'):
        with pytest.raises(VersionMismatch) as caught:
            v.check_if_match(stale, 3)
        assert caught.value.message == f"version 3 is current, If-Match gave {stale}"
