"""Device presence through a real Mosquitto: what a device's link publishes, the API
stores once and shows (Device.presence, Device.online, GET /v1/devices/{id}/presence)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from control_api.app import LomuzApp
from control_api.store.models import DevicePresenceEvent
from lomuz_rules.push import PRESENCE_FILTER, encode_presence, presence_topic
from tests.control_api.conftest import Api
from tests.control_api.openapi_check import CheckedClient
from tests.control_api.push.test_mqtt_nudges import _app
from tests.mqtt import Publisher, require_broker

pytestmark = pytest.mark.timeout(60)


def _subscribed(app: LomuzApp) -> None:
    assert app.presence is not None
    deadline = time.monotonic() + 10
    while not app.presence.listener.subscribed:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the API never subscribed to presence"
        time.sleep(0.02)


def _idle(app: LomuzApp) -> None:
    assert app.presence is not None
    assert app.presence.intake.wait_idle(10)


@pytest.fixture
def presence_api(settings_env: dict[str, str]) -> Iterator[tuple[Api, Publisher]]:
    url = require_broker()
    app = _app(settings_env, url)
    publisher = Publisher(url)
    try:
        _subscribed(app)
        yield Api(CheckedClient(app), app, app.deps.db), publisher
    finally:
        publisher.close()
        app.close()


@pytest.fixture
def cleared() -> Iterator[list[str]]:
    """Device ids whose retained presence the shared broker forgets after the test."""
    ids: list[str] = []
    yield ids
    publisher = Publisher(require_broker())
    try:
        for device_id in ids:
            publisher.send(presence_topic(device_id), b"", retain=True)
    finally:
        publisher.close()


def _announce(publisher: Publisher, device_id: str, state: str) -> None:
    publisher.send(presence_topic(device_id), encode_presence(state), retain=True)  # type: ignore[arg-type]


def _wait_device(api: Api, admin: str, device_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        device = api.call("GET", f"/v1/devices/{device_id}", admin).json
        if device["presence"]["state"] == state:
            return device
        assert time.monotonic() < deadline, f"presence never became {state}: {device}"
        time.sleep(0.05)


def _transitions(api: Api, admin: str, device_id: str, **params: Any) -> Any:
    got = api.call("GET", f"/v1/devices/{device_id}/presence", admin, params=params)
    assert got.status_code == 200, got.text
    return got.json


def _until(ready: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def _sample(app: LomuzApp, outcome: str) -> float:
    value = app.deps.metrics.registry.get_sample_value(
        "lomuz_presence_messages_total", {"outcome": outcome}
    )
    return value or 0.0


def test_online_then_offline_is_shown_and_each_transition_stored_once(
    presence_api: tuple[Api, Publisher], cleared: list[str]
) -> None:
    api, publisher = presence_api
    admin = api.tenant()
    device_id, _ = api.device(admin)
    cleared.append(device_id)
    before = api.call("GET", f"/v1/devices/{device_id}", admin).json
    assert before["presence"] == {"state": "unknown", "since": None}
    assert before["online"] is True  # just enrolled: seen now, the last_seen rule

    _announce(publisher, device_id, "online")
    online = _wait_device(api, admin, device_id, "online")
    assert online["online"] is True and online["presence"]["since"] is not None
    _announce(publisher, device_id, "offline")
    _announce(publisher, device_id, "offline")  # a QoS-1 redelivery, say
    offline = _wait_device(api, admin, device_id, "offline")
    _idle(api.app)
    # Seen a moment ago, but the broker says the connection is gone: offline.
    assert offline["online"] is False

    listed = _transitions(api, admin, device_id)
    assert [e["state"] for e in listed["items"]] == ["offline", "online"]
    assert listed["items"][0]["at"] == offline["presence"]["since"]
    assert listed["next"] is None
    assert _sample(api.app, "recorded") == 2 and _sample(api.app, "unchanged") >= 1

    first = _transitions(api, admin, device_id, limit=1)
    assert [e["state"] for e in first["items"]] == ["offline"]
    second = _transitions(api, admin, device_id, limit=1, after=first["next"])
    assert [e["state"] for e in second["items"]] == ["online"] and second["next"] is None

    by_filter = api.call("GET", "/v1/devices", admin, params={"online": "false"}).json
    assert device_id in {d["id"] for d in by_filter["items"]}
    assert device_id not in {
        d["id"]
        for d in api.call("GET", "/v1/devices", admin, params={"online": "true"}).json["items"]
    }


def test_two_workers_on_one_database_record_each_transition_once(
    presence_api: tuple[Api, Publisher], settings_env: dict[str, str], cleared: list[str]
) -> None:
    api, publisher = presence_api
    second = _app(settings_env, require_broker())
    try:
        _subscribed(second)
        admin = api.tenant()
        device_ids = [api.device(admin, name=f"box{i}")[0] for i in range(3)]
        cleared.extend(device_ids)
        for state in ("online", "offline", "online"):
            for device_id in device_ids:
                _announce(publisher, device_id, state)
            for device_id in device_ids:
                _wait_device(api, admin, device_id, state)
            _idle(api.app)
            _idle(second)
        for device_id in device_ids:
            states = [e["state"] for e in _transitions(api, admin, device_id)["items"]]
            assert states == ["online", "offline", "online"]
        assert _sample(api.app, "recorded") + _sample(second, "recorded") == 9
        assert _sample(api.app, "unchanged") + _sample(second, "unchanged") == 9
    finally:
        second.close()


def test_bad_payloads_unknown_devices_and_stray_topics_are_ignored(
    presence_api: tuple[Api, Publisher], cleared: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    api, publisher = presence_api
    admin = api.tenant()
    device_id, _ = api.device(admin)
    cleared.extend([device_id, "dev_nobody_has_this"])
    topic = presence_topic(device_id)
    for payload in (b"not json", b'{"state": "ONLINE"}', b"[" * 5000, b"\xff"):
        publisher.send(topic, payload)
    publisher.send(presence_topic("dev_nobody_has_this"), encode_presence("online"), retain=True)
    publisher.send(PRESENCE_FILTER.replace("+", "a") + "/extra", encode_presence("online"))
    _until(lambda: _sample(api.app, "bad_payload") == 4 and _sample(api.app, "bad_topic") == 0)
    _until(lambda: _sample(api.app, "unknown_device") >= 1)
    assert api.call("GET", f"/v1/devices/{device_id}", admin).json["presence"]["state"] == "unknown"
    warnings = [r for r in caplog.records if "payload that is not presence" in r.getMessage()]
    assert len(warnings) == 1  # logged once per kind, not once per message
    _announce(publisher, device_id, "online")  # the listener lives on
    _wait_device(api, admin, device_id, "online")


def test_decommission_deletes_the_transitions(
    presence_api: tuple[Api, Publisher], cleared: list[str]
) -> None:
    api, publisher = presence_api
    admin = api.tenant()
    device_id, _ = api.device(admin)
    cleared.append(device_id)
    _announce(publisher, device_id, "online")
    _wait_device(api, admin, device_id, "online")
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
    with api.db.read() as s:
        left = s.query(DevicePresenceEvent).filter_by(device_id=device_id).count()
    assert left == 0
    assert api.call("GET", f"/v1/devices/{device_id}/presence", admin).status_code == 404


def test_another_tenant_cannot_read_a_devices_transitions(
    presence_api: tuple[Api, Publisher],
) -> None:
    api, _ = presence_api
    device_id, _ = api.device(api.tenant())
    other = api.tenant("other")
    assert api.call("GET", f"/v1/devices/{device_id}/presence", other).status_code == 404
