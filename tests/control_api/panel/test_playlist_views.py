"""How the playlist editor reads durations and adds up a playlist's length."""

from __future__ import annotations

import pytest

from control_api.errors import InvalidField
from control_api.panel.playlist_views import (
    AssetFacts,
    duration_ms_of,
    length_text,
    play_length_ms,
    seconds_text,
    total_length,
)

IMAGE = AssetFacts("Poster", "image", None)
SONG = AssetFacts("Song", "audio", 180_000)
UNMEASURED = AssetFacts("Stream", "video", None)


def test_an_items_length_follows_the_protocol() -> None:
    assert play_length_ms(IMAGE, None) == 10_000  # images default to 10 s
    assert play_length_ms(IMAGE, 4_000) == 4_000
    assert play_length_ms(SONG, None) == 180_000
    assert play_length_ms(SONG, 30_000) == 30_000  # a cap
    assert play_length_ms(SONG, 600_000) == 180_000  # a cap longer than the song
    assert play_length_ms(UNMEASURED, None) is None
    assert play_length_ms(None, 5_000) is None


def test_the_total_says_how_many_lengths_are_unknown() -> None:
    assert total_length([10_000, 180_000]).text == "3 min 10 s"
    assert (
        total_length([3_600_000, 65_000, None]).text == "1 h 01 min 05 s + 1 item of unknown length"
    )
    assert total_length([None, None]).text == "0 s + 2 items of unknown length"
    assert length_text(None) == "unknown"


@pytest.mark.parametrize(
    ("typed", "ms"), [("", None), ("10", 10_000), ("2.5", 2_500), ("2,5", 2_500), ("1", 1_000)]
)
def test_seconds_as_typed(typed: str, ms: int | None) -> None:
    assert duration_ms_of(typed, "d") == ms
    assert seconds_text(ms) == typed.replace(",", ".")


@pytest.mark.parametrize("typed", ["0.9", "-5", "ten", "nan", "inf", "1e99", "3000000"])
def test_bad_seconds_name_the_field(typed: str) -> None:
    with pytest.raises(InvalidField) as refused:
        duration_ms_of(typed, "items[0].duration_s")
    assert refused.value.field == "items[0].duration_s"
