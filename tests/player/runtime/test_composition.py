"""PlayerParts: parts built on demand, in dependency order, closed in reverse."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.adapters.null_output import NullOutput
from player.composition import PlayerParts, api_url_for
from player.credentials import Credentials
from player.errors import PlayerError
from player.settings import ApiSettings, Settings
from player.store.read_only import KEY_CLOCK_LOWER_BOUND


class RecordingOutput(NullOutput):
    """A null output that notes when it is closed."""

    def __init__(self, closed: list[str]) -> None:
        super().__init__()
        self._closed = closed

    def close(self) -> None:
        self._closed.append("output")
        super().close()


def test_nothing_is_built_until_asked_and_a_part_brings_what_it_needs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with PlayerParts(settings, {}, output=NullOutput()) as parts:
        assert not (tmp_path / "data").exists()
        assert not any(parts.has(name) for name in ("store", "clock", "cache", "loop"))
        parts.janitor  # noqa: B018
        assert all(parts.has(name) for name in ("store", "clock", "cache"))
        assert not parts.has("loop") and not parts.has("output")
        assert parts.network is None


def test_close_stops_the_parts_in_reverse_order_of_building(tmp_path: Path) -> None:
    closed: list[str] = []
    parts = PlayerParts(Settings(data_dir=tmp_path / "data"), {}, output=RecordingOutput(closed))
    parts.store  # noqa: B018
    parts.on_close(lambda: closed.append("after store"))
    loop = parts.loop
    parts.on_close(lambda: closed.append("after loop"))
    parts.close()
    # what was built after the loop first, then the loop and output, then what
    # was built before them (the clock, then the store)
    assert closed == ["after loop", "output", "after store"]
    assert loop.now_playing().state == "stopped"


def test_the_clock_keeps_the_stored_floor(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with PlayerParts(settings, {}) as parts:
        parts.store.state.set_raw(KEY_CLOCK_LOWER_BOUND, "2040-01-01T00:00:00+00:00")
    with PlayerParts(settings, {}) as parts:
        assert parts.clock.now().year == 2040


def test_a_cli_part_that_cannot_create_the_data_dir_is_a_player_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with (
        PlayerParts(Settings(data_dir=blocker / "data"), {}) as parts,
        pytest.raises(PlayerError, match="cannot create"),
    ):
        parts.store  # noqa: B018


def test_the_api_url_setting_wins_over_the_enrolled_one() -> None:
    credentials = Credentials("https://enrolled.example", "dev-1", "token")
    assert api_url_for(Settings(), credentials) == "https://enrolled.example"
    moved = Settings(api=ApiSettings(url="https://moved.example"))
    assert api_url_for(moved, credentials) == "https://moved.example"
