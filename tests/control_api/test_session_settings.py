"""The panel's session lifetimes as settings (LOMUZ_SESSION_IDLE_S, LOMUZ_SESSION_MAX_S)."""

from __future__ import annotations

import pytest

from control_api.errors import ConfigError
from control_api.settings import load_settings


def test_defaults_are_eight_hours_idle_and_seven_days_in_all() -> None:
    settings = load_settings({})
    assert (settings.session_idle_s, settings.session_max_s) == (8 * 3600, 7 * 24 * 3600)


def test_they_are_read_from_the_environment() -> None:
    settings = load_settings({"LOMUZ_SESSION_IDLE_S": "900", "LOMUZ_SESSION_MAX_S": "86400"})
    assert (settings.session_idle_s, settings.session_max_s) == (900, 86400)


@pytest.mark.parametrize("key", ["LOMUZ_SESSION_IDLE_S", "LOMUZ_SESSION_MAX_S"])
@pytest.mark.parametrize("value", ["soon", "10"])
def test_a_bad_value_names_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings({key: value})
