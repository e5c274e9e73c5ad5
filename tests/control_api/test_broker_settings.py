"""LOMUZ_MQTT_DEVICE_URL and LOMUZ_MQTT_MANAGE_ACCOUNTS (issue 13): checked, defaulted."""

from __future__ import annotations

import pytest

from control_api.errors import ConfigError
from control_api.settings import load_settings

BASE = {"LOMUZ_DATABASE_URL": "sqlite:///x.db", "LOMUZ_MEDIA_DIR": "/tmp/m"}


def test_devices_dial_the_internal_url_without_its_credentials_by_default() -> None:
    s = load_settings({**BASE, "LOMUZ_MQTT_URL": "mqtt://api:pw@broker.lan:1883"})
    assert s.mqtt_device_url == "mqtt://broker.lan:1883"
    assert not s.manage_broker_accounts
    assert load_settings(BASE).mqtt_device_url is None


def test_a_device_url_of_its_own_and_managed_accounts() -> None:
    s = load_settings(
        {
            **BASE,
            "LOMUZ_MQTT_URL": "mqtt://api:pw@broker.lan",
            "LOMUZ_MQTT_DEVICE_URL": "mqtts://push.example",
            "LOMUZ_MQTT_MANAGE_ACCOUNTS": "1",
        }
    )
    assert (s.mqtt_device_url, s.manage_broker_accounts) == ("mqtts://push.example:8883", True)


@pytest.mark.parametrize(
    ("env", "key", "fragment"),
    [
        ({"LOMUZ_MQTT_DEVICE_URL": "mqtts://u:p@push.example"}, "LOMUZ_MQTT_DEVICE_URL", "no user"),
        ({"LOMUZ_MQTT_DEVICE_URL": "https://push.example"}, "LOMUZ_MQTT_DEVICE_URL", "mqtt://"),
        ({"LOMUZ_MQTT_MANAGE_ACCOUNTS": "1"}, "LOMUZ_MQTT_MANAGE_ACCOUNTS", "LOMUZ_MQTT_URL"),
        (
            {"LOMUZ_MQTT_MANAGE_ACCOUNTS": "1", "LOMUZ_MQTT_URL": "mqtt://broker.lan"},
            "LOMUZ_MQTT_MANAGE_ACCOUNTS",
            "user and password",
        ),
        ({"LOMUZ_MQTT_MANAGE_ACCOUNTS": "maybe"}, "LOMUZ_MQTT_MANAGE_ACCOUNTS", "1 or 0"),
    ],
)
def test_bad_broker_settings_name_their_key(env: dict[str, str], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, **env})
    assert info.value.key == key
    assert fragment in str(info.value)
