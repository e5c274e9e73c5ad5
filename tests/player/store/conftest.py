"""Fixtures for the player store tests: real SQLite files in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from player.store import PlayerStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "player.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[PlayerStore]:
    opened = PlayerStore.open(db_path)
    try:
        yield opened
    finally:
        opened.close()
