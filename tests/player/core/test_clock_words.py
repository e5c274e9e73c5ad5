"""``describe_offset``: the clock offset in a technician's words (status and doctor)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.core.clock import describe_offset


@pytest.mark.parametrize(
    ("offset_s", "text"),
    [
        (0.4, "in step with the API (0.4 s)"),
        (-0.4, "in step with the API (0.4 s)"),
        (0.0, "in step with the API (0.0 s)"),
        (3.5, "this box is 3.5 s behind the API"),
        (-42.0, "this box is 42.0 s ahead of the API"),
        (-59.96, "this box is 1 min 00 s ahead of the API"),
        (61.0, "this box is 1 min 01 s behind the API"),
        (-7200.0, "this box is 2 h 00 min ahead of the API"),
        (3 * 86400 + 5 * 3600 + 59.0, "this box is 3 d 05 h behind the API"),
        # The field reading: a box back at its image's date, 913.5 days behind.
        (78926910.5, "this box is 2 y 183 d behind the API"),
        (-78926910.5, "this box is 2 y 183 d ahead of the API"),
        (float("nan"), "offset unknown (nan)"),
    ],
)
def test_offsets_in_words(offset_s: float, text: str) -> None:
    assert describe_offset(offset_s) == text


@given(st.floats(min_value=1.0, max_value=1e10))
def test_the_sign_says_who_is_late(offset_s: float) -> None:
    # offset = API time - local time: positive means the box's clock is behind.
    assert describe_offset(offset_s).endswith("behind the API")
    assert describe_offset(-offset_s).endswith("ahead of the API")
    assert "+" not in describe_offset(offset_s) and "e+" not in describe_offset(offset_s)
