"""Plain http:// only to loopback unless ``[api] allow_insecure_http``; ``[api] media_origins``.

The same rule for ``api.url`` (file or ``LOMUZ_PLAYER_API_URL``), the media
origins and ``enroll --api`` (tests/player/cli/test_cli_enroll.py); the error
names the setting and the opt-in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.core.downloads import (
    insecure_http_problem,
    is_loopback_host,
    media_url_problem,
    origin_text,
    url_origin,
)
from player.errors import ConfigError
from player.settings import Settings, check_http_url, load_settings

LOOPBACK = [
    "http://127.0.0.1:8000",
    "http://127.3.2.1/api",
    "http://[::1]:8080",
    "http://localhost:8080",
    "http://LOCALHOST.",
    "https://control.example",
    "https://10.0.0.5",
]
OFF_LOOPBACK = [
    "http://control.lan",
    "http://10.0.0.5:8080",
    "http://[fe80::1]",
    "http://0.0.0.0",
    "http://localhost.example",
    "http://128.0.0.1",
]


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "player.toml"
    path.write_text(text)
    return load_settings(path, environ or {})


@pytest.mark.parametrize("url", LOOPBACK)
def test_https_and_loopback_http_pass(url: str) -> None:
    assert check_http_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", OFF_LOOPBACK)
def test_plain_http_off_loopback_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ValueError, match=r"must use https://.*allow_insecure_http = true"):
        check_http_url(url)
    assert check_http_url(url, allow_insecure_http=True) == url


def test_a_plain_http_api_url_in_the_file_still_loads(tmp_path: Path) -> None:
    # A box upgraded with such a setting must keep playing: its client refuses
    # to send (tests/player/adapters/test_http_api.py) and doctor names the fix.
    settings = load(tmp_path, '[api]\nurl = "http://control.lan"\n')
    assert settings.api.url == "http://control.lan"
    assert not settings.api.allow_insecure_http
    with pytest.raises(ValueError, match="allow_insecure_http = true"):
        check_http_url(settings.api.url)


def test_the_environment_goes_through_the_same_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="from LOMUZ_PLAYER_API_URL") as info:
        load_settings(tmp_path / "none.toml", {"LOMUZ_PLAYER_API_URL": "ftp://control.lan"})
    assert info.value.key == "api.url"
    settings = load_settings(
        tmp_path / "none.toml",
        {
            "LOMUZ_PLAYER_API_URL": "http://control.lan",
            "LOMUZ_PLAYER_API_ALLOW_INSECURE_HTTP": "true",
        },
    )
    assert settings.api.url == "http://control.lan"


def test_media_origins_are_normalised_origins(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[api]\nmedia_origins = ["https://CDN.example/", '
        '"https://cdn.example:443", "https://b.example:8443"]\n',
    )
    assert settings.api.media_origins == ("https://cdn.example", "https://b.example:8443")
    from_env = load_settings(
        tmp_path / "none.toml",
        {"LOMUZ_PLAYER_API_MEDIA_ORIGINS": "https://a.example, https://b.example"},
    )
    assert from_env.api.media_origins == ("https://a.example", "https://b.example")
    assert load_settings(tmp_path / "none.toml", {}).api.media_origins == ()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"https://cdn.example"', "must be an array of origins"),
        ('["https://cdn.example/media"]', "without a path or user"),
        ('["https://u:p@cdn.example"]', "without a path or user"),
        ('["ftp://cdn.example"]', "must start with http:// or https://"),
        ('["http://cdn.example"]', "must use https://"),
        ("[1]", "must be an array of origins"),
    ],
)
def test_a_bad_media_origin_names_the_key(tmp_path: Path, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"[api]\nmedia_origins = {value}\n")
    assert info.value.key == "api.media_origins"
    assert reason in str(info.value)


def test_a_plain_http_media_origin_needs_the_opt_in_too(tmp_path: Path) -> None:
    settings = load(
        tmp_path, '[api]\nallow_insecure_http = true\nmedia_origins = ["http://cdn.lan:8080"]\n'
    )
    assert settings.api.media_origins == ("http://cdn.lan:8080",)
    assert load(
        tmp_path, '[api]\nmedia_origins = ["http://127.0.0.1:9000"]\n'
    ).api.media_origins == ("http://127.0.0.1:9000",)


# -- the pure rules --------------------------------------------------------------------

hosts = st.sampled_from(
    ["api.example", "cdn.example", "CDN.Example", "127.0.0.1", "[::1]", "other.example"]
)
schemes = st.sampled_from(["http", "https"])
ports = st.sampled_from([None, 80, 443, 8443])
paths = st.sampled_from(["", "/", "/v1/media/ab", "/a/b?x=1"])


def make_url(scheme: str, host: str, port: int | None, path: str) -> str:
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"


@given(schemes, hosts, ports, paths, st.lists(st.tuples(schemes, hosts, ports), max_size=3))
def test_a_media_url_is_allowed_exactly_on_the_api_or_a_listed_origin(
    scheme: str,
    host: str,
    port: int | None,
    path: str,
    listed: list[tuple[str, str, int | None]],
) -> None:
    api = url_origin("https://api.example")
    assert api is not None
    origins = {o for o in (url_origin(make_url(*entry, "")) for entry in listed) if o}
    url = make_url(scheme, host, port, path)
    origin = url_origin(url)
    assert origin is not None
    problem = media_url_problem(url, api_origin=api, media_origins=origins)
    assert (problem is None) == (origin == api or origin in origins)
    if problem is not None:
        assert origin_text(origin) in problem
    # An origin's text is itself an URL of that origin.
    assert url_origin(origin_text(origin)) == origin


def test_default_ports_and_case_make_one_origin() -> None:
    assert url_origin("https://CDN.example:443/x") == url_origin("https://cdn.example")
    assert url_origin("http://cdn.example:80") == ("http", "cdn.example", 80)
    assert url_origin("https://cdn.example:8443") != url_origin("https://cdn.example")
    assert url_origin("file:///etc/passwd") is None
    assert url_origin("/v1/media/ab") is None


@given(st.text(max_size=30))
def test_the_loopback_rule_never_raises(host: str) -> None:
    is_loopback_host(host)
    insecure_http_problem("http://" + host)
