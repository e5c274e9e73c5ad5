"""The pure parts of the device page's Commands and Overrides: a result in a line, the
volume check, when "Play now" ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core.device_health import MAX_TEXT_CHARS
from control_api.errors import InvalidField
from control_api.panel.command_views import CommandForm, check_command_form, result_summary
from control_api.panel.override_views import OverrideForm, until_of

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 in Berlin, the night clocks go forward

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=50), inner, max_size=8)
    ),
    max_leaves=30,
)


@pytest.mark.parametrize(
    ("command_type", "result", "line"),
    [
        (
            "snapshot",
            {"item": {"asset_id": "ast_1"}, "tier": "schedule", "volume": 5},
            "item ast_1, tier schedule, volume 5%",
        ),
        ("snapshot", {"item": None, "state": "silence"}, "no item, state silence"),
        ("volume", {"volume": 40}, "volume 40"),
        ("sync", {"cursor": "c9", "changed": True}, "cursor c9, changed yes"),
        ("skip", {"error": "playback is not running"}, "error: playback is not running"),
        ("skip", {"error": {"nested": 1}}, "error: unknown"),
        ("sync", None, ""),
        ("sync", ["not", "an", "object"], ""),
    ],
)
def test_a_result_reads_as_one_line(command_type: str, result: object, line: str) -> None:
    assert result_summary(command_type, result) == line


@given(command_type=st.sampled_from(["snapshot", "sync", "x"]), result=json_values)
def test_any_result_gives_a_bounded_line_and_never_raises(
    command_type: str, result: object
) -> None:
    line = result_summary(command_type, result)
    assert isinstance(line, str) and len(line) <= 8 * (MAX_TEXT_CHARS + 60)


@pytest.mark.parametrize(
    ("typed", "checked"),
    [
        ("0", 0),
        ("100", 100),
        ("042", 42),
        ("101", None),
        ("4_2", None),
        ("+4", None),
        ("٤", None),
        ("", None),
    ],
)
def test_the_volume_is_a_whole_number_0_to_100(typed: str, checked: int | None) -> None:
    form = CommandForm(type="volume", volume=typed)
    assert check_command_form(form) == (None if checked is None else ("volume", checked))
    assert bool(form.errors) == (checked is None)


def test_play_now_ends_after_a_duration_at_local_midnight_or_at_a_local_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert until_of(OverrideForm(until="15m"), NOW, "Europe/Berlin") == NOW + timedelta(minutes=15)
    assert until_of(OverrideForm(until="eod"), NOW, "Europe/Berlin") == datetime(
        2026, 3, 30, tzinfo=berlin
    )
    # 03:30 local, after the jump: 01:30 UTC (CEST, +2).
    at = until_of(OverrideForm(until="at", until_at="2026-03-29T03:30"), NOW, "Europe/Berlin")
    assert at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert until_of(OverrideForm(until="eod"), NOW, "UTC") == datetime(2026, 3, 30, tzinfo=UTC)
    for bad in (OverrideForm(until="2h"), OverrideForm(until="at", until_at="tomorrow")):
        with pytest.raises(InvalidField) as refused:
            until_of(bad, NOW, "UTC")
        assert refused.value.field == "until"
