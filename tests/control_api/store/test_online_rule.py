"""``core.presence.is_online`` and its SQL twin ``store.devices.online_clause`` agree,
on every combination of MQTT presence and last HTTP contact, both ways round."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from control_api.core.presence import is_online, online_since
from control_api.store.devices import online_clause
from control_api.store.models import Device
from tests.control_api.conftest import Api

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
INTERVAL_S = 60
RECENT, LATER, OLD = (
    NOW - timedelta(seconds=30),
    NOW - timedelta(seconds=10),
    NOW - timedelta(hours=1),
)


def test_the_sql_rule_is_the_python_rule_for_every_combination(api: Api) -> None:
    admin = api.tenant()
    made = api.call("POST", "/v1/devices", admin, json={"name": "box"})
    assert made.status_code == 201, made.text
    device_id = made.json["id"]
    boundary = online_since(NOW, INTERVAL_S)
    states = (None, "online", "offline")
    times = (None, OLD, RECENT, LATER)
    for state, changed_at, seen_at in itertools.product(states, times, times):
        with api.db.write() as s:
            s.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(presence_state=state, presence_changed_at=changed_at, last_seen_at=seen_at)
            )
        expected = is_online(state, changed_at, seen_at, NOW, INTERVAL_S)
        with api.db.read() as s:
            found = {
                polarity: s.scalar(
                    select(Device.id).where(
                        Device.id == device_id, online_clause(boundary, online=polarity)
                    )
                )
                is not None
                for polarity in (True, False)
            }
        case = (state, changed_at, seen_at)
        assert found[True] is expected, case
        assert found[False] is (not expected), case


def test_the_rule_itself() -> None:
    # A box cut off: its will is newer than its last request.
    assert not is_online("offline", LATER, RECENT, NOW, INTERVAL_S)
    # Its broker link down but polling: seen after the will.
    assert is_online("offline", RECENT, LATER, NOW, INTERVAL_S)
    # Just connected, no telemetry yet.
    assert is_online("online", RECENT, None, NOW, INTERVAL_S)
    # A stale "online" (it died while the broker was down): ends with the window.
    assert not is_online("online", OLD, OLD, NOW, INTERVAL_S)
    # No MQTT at all: the last_seen rule.
    assert is_online(None, None, RECENT, NOW, INTERVAL_S)
    assert not is_online(None, None, OLD, NOW, INTERVAL_S)
