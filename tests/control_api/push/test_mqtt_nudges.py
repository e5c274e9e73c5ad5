"""Nudges through a real Mosquitto: what a subscriber on the broker receives."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from control_api.app import LomuzApp, create_app
from control_api.settings import load_settings
from control_api.store.db import Database
from lomuz_rules.push import TOPIC_ROOT, decode_nudge, nudge_topic
from tests.control_api.conftest import METRICS_TOKEN, Api
from tests.control_api.openapi_check import CheckedClient
from tests.control_api.push.test_nudge_targets import _devices, _playlist, _schedule
from tests.mqtt import Subscriber, require_broker
from tests.netutil import free_port

pytestmark = pytest.mark.timeout(60)


def _app(settings_env: dict[str, str], mqtt_url: str) -> LomuzApp:
    settings = replace(load_settings(settings_env), mqtt_url=mqtt_url)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    return create_app(settings)


@pytest.fixture
def broker_api(settings_env: dict[str, str]) -> Iterator[tuple[Api, str]]:
    url = require_broker()
    app = _app(settings_env, url)
    try:
        yield Api(CheckedClient(app), app, app.deps.db), url
    finally:
        app.close()


def _connected(api: Api) -> None:
    publisher = api.app.nudger._publisher  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not publisher.connected:
        assert time.monotonic() < deadline, "the API never connected to the broker"
        time.sleep(0.02)


def _received(sub: Subscriber, topics: set[str], expected: set[str]) -> set[str]:
    sub.wait_for(lambda: {m.topic for m in sub.live(topics)} >= expected, timeout_s=10)
    time.sleep(0.3)  # anything else that was going to arrive has arrived
    return {m.topic for m in sub.live(topics)}


def test_group_schedule_nudges_exactly_the_devices_of_that_group(
    broker_api: tuple[Api, str],
) -> None:
    api, url = broker_api
    _connected(api)
    admin = api.tenant()
    north1, north2, south, loner = _devices(api, admin, [["north"], ["north"], ["south"], []])
    topics = {nudge_topic(d) for d in (north1, north2, south, loner)}
    sub = Subscriber(url, f"{TOPIC_ROOT}/+/nudge")
    try:
        _schedule(api, admin, _playlist(api, admin), {"group": "north"})
        got = _received(sub, topics, {nudge_topic(north1), nudge_topic(north2)})
        assert got == {nudge_topic(north1), nudge_topic(north2)}
        message = sub.live({nudge_topic(north1), nudge_topic(north2)})[0]
        assert decode_nudge(message.payload) is not None
        assert set(json.loads(message.payload)) == {"revision"}  # no content, only that
    finally:
        sub.close()


def test_all_target_nudges_every_device_of_the_tenant_and_none_of_another(
    broker_api: tuple[Api, str],
) -> None:
    api, url = broker_api
    _connected(api)
    admin, other = api.tenant("a"), api.tenant("b")
    mine = _devices(api, admin, [["g"], [], ["h"]])
    theirs = _devices(api, other, [["g"], []])
    topics = {nudge_topic(d) for d in mine + theirs}
    sub = Subscriber(url, f"{TOPIC_ROOT}/+/nudge")
    try:
        _schedule(api, admin, _playlist(api, admin), {"all": True})
        assert _received(sub, topics, {nudge_topic(d) for d in mine}) == {
            nudge_topic(d) for d in mine
        }
    finally:
        sub.close()
    # Retained: a device that subscribes later still gets the latest nudge.
    late = Subscriber(url, nudge_topic(mine[0]))
    try:
        assert late.wait_for(lambda: bool(late.messages), timeout_s=10)
        assert late.messages[0].retain
    finally:
        late.close()


def test_with_the_broker_down_requests_succeed_fast_and_drops_are_counted(
    settings_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="control_api.push_mqtt")
    app = _app(settings_env, f"mqtt://127.0.0.1:{free_port()}")  # nothing listens there
    try:
        api = Api(CheckedClient(app), app, app.deps.db)
        admin = api.tenant()
        _devices(api, admin, [[], [], []])
        pid = _playlist(api, admin)
        started = time.monotonic()
        for _ in range(5):
            _schedule(api, admin, pid, {"all": True})
        assert (time.monotonic() - started) / 5 < 0.5
        assert app.nudger is not None and app.nudger.wait_idle(10)
        metrics = api.call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        dropped = next(
            line
            for line in metrics.text.splitlines()
            if line.startswith('lomuz_push_nudges_total{outcome="dropped"}')
        )
        assert float(dropped.split()[-1]) >= 3
        time.sleep(1.5)  # paho retries at least once more meanwhile
    finally:
        app.close()
    # One line per broker client of the worker (the publisher, the presence listener).
    down = [r.name for r in caplog.records if "unreachable" in r.getMessage()]
    assert sorted(down) == ["control_api.presence_mqtt", "control_api.push_mqtt"], down


def test_a_decommissioned_device_leaves_no_retained_nudge(broker_api: tuple[Api, str]) -> None:
    api, url = broker_api
    _connected(api)
    admin = api.tenant()
    gone, kept = _devices(api, admin, [[], []])
    _schedule(api, admin, _playlist(api, admin), {"all": True})
    assert api.app.nudger is not None and api.app.nudger.wait_idle(10)  # type: ignore[attr-defined]
    first = Subscriber(url, nudge_topic(gone))
    try:
        assert first.wait_for(lambda: bool(first.messages), timeout_s=10)  # retained, as sent
    finally:
        first.close()

    assert api.call("DELETE", f"/v1/devices/{gone}", admin).status_code == 204

    # The clear is published in the background: what a new subscriber is handed at
    # once (the retained messages) loses the device's nudge within seconds.
    deadline = time.monotonic() + 10
    while _retained_payloads(url, nudge_topic(gone)):
        assert time.monotonic() < deadline, "the retained nudge outlived its device"
        time.sleep(0.2)
    assert _retained_payloads(url, nudge_topic(kept))  # the other device keeps its own


def _retained_payloads(url: str, topic: str) -> list[bytes]:
    sub = Subscriber(url, topic)
    try:  # a retained message follows the subscription's acknowledgement at once
        sub.wait_for(lambda: bool(sub.messages), timeout_s=0.5)
        return [m.payload for m in sub.messages if m.retain and m.payload]
    finally:
        sub.close()
