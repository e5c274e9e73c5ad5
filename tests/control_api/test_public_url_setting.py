"""LOMUZ_PUBLIC_URL: the API's address as boxes reach it (the panel's enroll command)."""

from __future__ import annotations

import pytest

from control_api.errors import ConfigError
from control_api.settings import load_settings


def test_unset_or_blank_is_none() -> None:
    assert load_settings({}).public_url is None
    assert load_settings({"LOMUZ_PUBLIC_URL": "  "}).public_url is None


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("https://lomuz.example", "https://lomuz.example"),
        ("https://lomuz.example/", "https://lomuz.example"),
        (" http://10.0.0.5:8080/edge/ ", "http://10.0.0.5:8080/edge"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
    ],
)
def test_a_url_is_kept_without_its_trailing_slash(raw: str, kept: str) -> None:
    assert load_settings({"LOMUZ_PUBLIC_URL": raw}).public_url == kept


@pytest.mark.parametrize(
    "raw",
    [
        "lomuz.example",
        "ftp://lomuz.example",
        "https://",
        "https://lomuz.example/?x=1",
        "https://lomuz.example/#top",
        "https://user:pw@lomuz.example",
        "https://lomuz.example:port",
        "https://lomuz.example:99999",
        "https://lo muz.example",
        "https://lomüz.example",
        "javascript:alert(1)",
    ],
)
def test_anything_else_is_refused_naming_the_key(raw: str) -> None:
    with pytest.raises(ConfigError, match="LOMUZ_PUBLIC_URL"):
        load_settings({"LOMUZ_PUBLIC_URL": raw})
