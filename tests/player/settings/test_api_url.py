"""``api.url`` is validated once, with a message naming the key and the bad value."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.errors import ConfigError
from player.settings import check_http_url, load_settings


def load_with_url(tmp_path: Path, url: str) -> object:
    path = tmp_path / "player.toml"
    path.write_text(f'[api]\nurl = "{url}"\n')
    return load_settings(path, {})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://exa mple", "contains a space"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("https://host:99999", "Port out of range"),
        ("https://host:x", "Port could not be cast"),
        ("https://a..b", "'a..b' is not a host name"),
        ("ftp://host", "must start with http:// or https://"),
        ("https://ü.example", "xn-- form"),
        ("https://", "has no host"),
        ("https://host/?x=1", "without ?query"),
    ],
)
def test_a_bad_api_url_names_the_key_and_the_value(tmp_path: Path, url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_with_url(tmp_path, url)
    assert info.value.key == "api.url"
    assert reason in str(info.value)
    assert f'got "{url}"' in str(info.value)


def test_the_environment_override_is_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LOMUZ_PLAYER_API_URL"):
        load_settings(tmp_path / "none.toml", {"LOMUZ_PLAYER_API_URL": "http://[::1"})


@pytest.mark.parametrize(
    "url",
    [
        "https://control.example",
        "http://127.0.0.1:8000/",
        "http://[::1]:8080/api",
        "https://xn--tda.example",
        "https://user:pw@host.example/base",
        "http://localhost:8080",
    ],
)
def test_good_urls_pass_without_their_trailing_slash(url: str) -> None:
    assert check_http_url(url) == url.rstrip("/")


@given(st.text(max_size=40))
def test_whatever_passes_is_a_url_httpx_can_request(tail: str) -> None:
    for candidate in (tail, "http://" + tail, "https://h.example/" + tail):
        try:
            url = check_http_url(candidate)
        except ValueError:
            continue
        httpx.Request("POST", url + "/v1/enroll")  # raises on what httpx refuses
