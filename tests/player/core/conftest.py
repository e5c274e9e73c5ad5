"""Fixtures for the player's core tests."""

from __future__ import annotations

import pytest

from tests.fakes.clock import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
