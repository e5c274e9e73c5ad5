"""One daemon per data directory: a second `run` refuses instead of fighting over the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.adapters.null_output import NullOutput
from player.daemon import Daemon
from player.errors import PlayerError
from player.settings import Settings


def test_a_second_daemon_on_the_same_data_dir_refuses(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = Daemon(settings, {}, output=NullOutput())
    first.start()
    try:
        second = Daemon(settings, {}, output=NullOutput())
        with pytest.raises(PlayerError, match="another lomuz-player daemon is running"):
            second.start()
        second.shutdown()
        assert first.started.is_set()
        assert first.parts.loop.now_playing().state in {"starting", "playing"}
    finally:
        first.shutdown()
    third = Daemon(settings, {}, output=NullOutput())
    third.start()
    third.shutdown()
