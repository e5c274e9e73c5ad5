"""Settings: file + environment, validated into frozen dataclasses; errors name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from player.errors import ConfigError
from player.settings import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_DATA_DIR,
    config_path,
    load_settings,
    mask_secret,
    settings_as_dict,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(text)
    return path


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "absent.toml", {})
    assert s.source is None
    assert s.data_dir == DEFAULT_DATA_DIR
    assert s.sync.interval_s == 600
    assert s.downloads.concurrency == 2
    assert s.telemetry.interval_s == 60
    assert s.playback.backend == "vlc"
    assert s.playback.fallback == "jingle"
    assert s.api.url is None


def test_file_values_are_read_and_paths_derived(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
data_dir = "{tmp_path}/data"
[api]
url = "https://control.example/"
[playback]
backend = "null"
fallback = "silence"
volume = 40
crossfade_ms = 1500
audio_output = "pulse"
gapless = false
[sync]
interval_s = 120
jitter_s = 5
[downloads]
concurrency = 3
max_cache_bytes = 1000000
min_free_bytes = 0
[telemetry]
interval_s = 30
outbox_max_rows = 10
[metrics]
textfile_dir = "{tmp_path}/metrics"
[log]
level = "debug"
""",
    )
    s = load_settings(path, {})
    assert s.source == path
    assert s.api.url == "https://control.example"
    assert s.playback.volume == 40
    assert s.playback.gapless is False
    assert s.playback.audio_output == "pulse"
    assert s.downloads.max_cache_bytes == 1_000_000
    assert s.metrics.textfile_dir == tmp_path / "metrics"
    assert s.log.level == "DEBUG"
    assert s.db_path == tmp_path / "data" / "player.db"
    assert s.media_dir == tmp_path / "data" / "media"
    assert s.credentials_path == tmp_path / "data" / "credentials.json"


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "absent.toml", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.playback.volume = 3  # type: ignore[misc]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[playback]\nbackend = "vlc"\nvolume = 10\n')
    env = {
        "LOMUZ_PLAYER_PLAYBACK_BACKEND": "null",
        "LOMUZ_PLAYER_PLAYBACK_VOLUME": "75",
        "LOMUZ_PLAYER_PLAYBACK_GAPLESS": "off",
        "LOMUZ_PLAYER_DATA_DIR": str(tmp_path / "d"),
        "LOMUZ_PLAYER_DOWNLOADS_MAX_CACHE_BYTES": "",
        "UNRELATED": "x",
    }
    s = load_settings(path, env)
    assert s.playback.backend == "null"
    assert s.playback.volume == 75
    assert s.playback.gapless is False
    assert s.data_dir == tmp_path / "d"
    assert s.downloads.max_cache_bytes is None


def test_config_path_precedence(tmp_path: Path) -> None:
    env = {"LOMUZ_PLAYER_CONFIG": str(tmp_path / "env.toml")}
    assert config_path(tmp_path / "cli.toml", env) == tmp_path / "cli.toml"
    assert config_path(None, env) == tmp_path / "env.toml"
    assert config_path(None, {}) == DEFAULT_CONFIG_PATH


def test_config_from_environment_variable_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "[sync]\ninterval_s = 900\n")
    s = load_settings(None, {"LOMUZ_PLAYER_CONFIG": str(path)})
    assert s.sync.interval_s == 900


@pytest.mark.parametrize(
    ("text", "env", "key", "fragment"),
    [
        ('[playback]\nvolume = "loud"\n', {}, "playback.volume", 'integer 0..100, got "loud"'),
        ("[playback]\nvolume = 101\n", {}, "playback.volume", "got 101"),
        ("[playback]\nvolume = true\n", {}, "playback.volume", "integer"),
        ('[playback]\nbackend = "alsa"\n', {}, "playback.backend", '"vlc", "null"'),
        ('[playback]\nfallback = "beep"\n', {}, "playback.fallback", "jingle"),
        ("[playback]\ncrossfade_ms = -1\n", {}, "playback.crossfade_ms", "got -1"),
        ('[playback]\ngapless = "yes"\n', {}, "playback.gapless", "true or false"),
        ("[playback]\nspeed = 2\n", {}, "playback.speed", "unknown setting"),
        ("colour = 1\n", {}, "colour", "unknown setting"),
        ("[weather]\nx = 1\n", {}, "weather", "unknown setting"),
        ("playback = 3\n", {}, "playback", "must be a table"),
        ('data_dir = "relative/dir"\n', {}, "data_dir", "absolute path"),
        ('[api]\nurl = "ftp://x"\n', {}, "api.url", "http"),
        ("[downloads]\nconcurrency = 0\n", {}, "downloads.concurrency", "1..16"),
        ('[log]\nlevel = "chatty"\n', {}, "log.level", "DEBUG"),
        (
            "",
            {"LOMUZ_PLAYER_PLAYBACK_VOLUME": "loud"},
            "playback.volume",
            "LOMUZ_PLAYER_PLAYBACK_VOLUME",
        ),
        ("", {"LOMUZ_PLAYER_PLAYBAK_BACKEND": "null"}, "LOMUZ_PLAYER_PLAYBAK_BACKEND", "unknown"),
        ("", {"LOMUZ_PLAYER_SYNC_INTERVAL_S": "1.5"}, "sync.interval_s", "integer"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], key: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")
    assert fragment in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[playback\nvolume = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert str(path) in str(info.value)
    assert "TOML" in str(info.value)


def test_a_directory_as_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path, {})


def test_secrets_print_masked(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nurl = "https://dev:hunter2hunter2@control.example:8443/x"\n')
    shown = settings_as_dict(load_settings(path, {}))
    assert "hunter2" not in str(shown)
    assert shown["api"]["url"] == "https://dev:****@control.example:8443/x"
    token = "tok_" + "a" * 40 + "wxyz"
    assert mask_secret(token) == "****wxyz"
    assert mask_secret("short") == "****"


def test_push_is_off_by_default_and_its_broker_url_is_checked(tmp_path: Path) -> None:
    defaults = load_settings(tmp_path / "absent.toml", {})
    assert (defaults.push.url, defaults.push.jitter_s, defaults.push.min_interval_s) == (
        None,
        3,
        10,
    )
    path = write(tmp_path, '[push]\nurl = "mqtts://box:s3cretpass@broker.example"\njitter_s = 0\n')
    s = load_settings(path, {"LOMUZ_PLAYER_PUSH_MIN_INTERVAL_S": "30"})
    assert (s.push.url, s.push.jitter_s, s.push.min_interval_s) == (
        "mqtts://box:s3cretpass@broker.example",
        0,
        30,
    )
    shown = settings_as_dict(s)
    assert shown["push"]["url"] == "mqtts://box:****@broker.example"
    for bad, fragment in (
        ("https://broker.example", "mqtt://"),
        ("mqtt://:s3cretpass@", "no host"),
        ("mqtt://u:s3cretpass@h/t", "no path"),
    ):
        with pytest.raises(ConfigError) as info:
            load_settings(write(tmp_path, f'[push]\nurl = "{bad}"\n'), {})
        assert info.value.key == "push.url"
        assert fragment in str(info.value)
        assert "s3cretpass" not in str(info.value)


def test_push_ca_file_is_an_absolute_path(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[push]\nca_file = "/etc/lomuz/broker-ca.pem"\n'), {})
    assert s.push.ca_file == Path("/etc/lomuz/broker-ca.pem")
    assert load_settings(tmp_path / "absent.toml", {}).push.ca_file is None
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[push]\nca_file = "broker-ca.pem"\n'), {})
    assert info.value.key == "push.ca_file"


def test_push_url_issued_asks_the_api_for_the_devices_own_broker_account(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[push]\nurl = "issued"\n'), {})
    assert s.push.url == "issued"
    assert settings_as_dict(s)["push"]["url"] == "issued"
    assert s.broker_login_path == s.data_dir / "broker-login.json"
    env = load_settings(tmp_path / "absent.toml", {"LOMUZ_PLAYER_PUSH_URL": " issued "})
    assert env.push.url == "issued"
