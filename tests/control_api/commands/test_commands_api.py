"""Remote commands through the API: send, read, pick up, acknowledge; expiry, tenant
isolation, idempotent acks, and hostile bodies that never get a 500.

Every answer is checked against the OpenAPI document (``CheckedClient``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.app import create_app
from control_api.settings import load_settings
from control_api.store.db import Database
from lomuz_rules.commands import decode_command
from tests.control_api.conftest import Api
from tests.control_api.openapi_check import CheckedClient
from tests.control_api.push.test_nudge_targets import RecordingPublisher

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def api(settings_env: dict[str, str], clock: Clock, publisher: RecordingPublisher) -> Iterator[Api]:
    """The API on a clock the test moves, publishing to a recorder."""
    config = replace(load_settings(settings_env))
    migrator = Database(config.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(config, now=clock, publisher=publisher)
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


def _send(api: Api, admin: str, device_id: str, **body: Any) -> Any:
    return api.call("POST", f"/v1/devices/{device_id}/commands", admin, json=body)


def _ack(api: Api, token: str, command_id: str, state: str, result: Any = None) -> Any:
    body: dict[str, Any] = {"state": state}
    if result is not None:
        body["result"] = result
    return api.call("POST", f"/v1/device/commands/{command_id}", token, json=body)


def test_a_command_is_stored_published_acknowledged_and_read(
    api: Api, publisher: RecordingPublisher, clock: Clock
) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    sent = _send(api, admin, device_id, type="volume", value=40)
    assert sent.status_code == 202, sent.text
    command = sent.json
    assert command["state"] == "pending" and command["value"] == 40
    assert command["expires_at"] == "2026-12-03T09:10:00Z"  # 10 min by default
    assert "result" not in command
    assert sent.headers["Location"] == f"/v1/devices/{device_id}/commands/{command['id']}"
    [(topic_device, payload)] = publisher.commands
    message = decode_command(payload)
    assert topic_device == device_id and message is not None
    assert (message.id, message.type, message.value) == (command["id"], "volume", 40)

    picked = api.call("GET", "/v1/device/commands", token)
    assert [c["id"] for c in picked.json["items"]] == [command["id"]]

    clock.at += timedelta(seconds=1)
    assert _ack(api, token, command["id"], "delivered").json["state"] == "delivered"
    clock.at += timedelta(seconds=1)
    done = _ack(api, token, command["id"], "done", {"volume": 40})
    assert done.status_code == 200, done.text
    assert done.json["state"] == "done" and done.json["result"] == {"volume": 40}
    # Repeated and late acks change nothing.
    assert _ack(api, token, command["id"], "done", {"other": 1}).json["result"] == {"volume": 40}
    assert _ack(api, token, command["id"], "delivered").json["state"] == "done"
    contradicting = _ack(api, token, command["id"], "failed")
    assert contradicting.status_code == 409
    assert contradicting.json["error"]["code"] == "command_finished"

    read = api.call("GET", f"/v1/devices/{device_id}/commands/{command['id']}", admin)
    assert read.json["state"] == "done"
    assert read.json["updated_at"] == "2026-12-03T09:00:02Z"
    assert api.call("GET", "/v1/device/commands", token).json["items"] == []


def test_a_command_past_its_expiry_reads_expired_and_takes_no_ack(api: Api, clock: Clock) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    expires = (T0 + timedelta(seconds=30)).isoformat()
    command = _send(api, admin, device_id, type="skip", expires_at=expires).json
    clock.at += timedelta(seconds=31)
    read = api.call("GET", f"/v1/devices/{device_id}/commands/{command['id']}", admin)
    assert read.json["state"] == "expired"
    assert read.json["updated_at"] == "2026-12-03T09:00:30Z"
    assert api.call("GET", "/v1/device/commands", token).json["items"] == []
    refused = _ack(api, token, command["id"], "done")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "command_expired"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "reboot"}, "type"),
        ({"type": "volume"}, "value"),
        ({"type": "volume", "value": 101}, "value"),
        ({"type": "volume", "value": True}, "value"),
        ({"type": "sync", "value": 3}, "value"),
        ({"type": "sync", "expires_at": "2026-12-03T08:59:00Z"}, "expires_at"),
        ({"type": "sync", "expires_at": "2026-12-04T09:00:01Z"}, "expires_at"),
        ({"type": "sync", "expires_at": "tomorrow"}, "expires_at"),
        ({"type": "sync", "extra": 1}, "extra"),
    ],
)
def test_invalid_commands_are_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    admin = api.tenant()
    device_id, _ = api.device(admin)
    reply = _send(api, admin, device_id, **body)
    assert reply.status_code == 422, reply.text
    assert field in reply.json["error"]["message"]


def test_other_tenants_devices_and_commands_are_not_found(
    api: Api, publisher: RecordingPublisher
) -> None:
    admin, other_admin = api.tenant("a"), api.tenant("b")
    device_id, token = api.device(admin)
    other_device, other_token = api.device(other_admin)
    command = _send(api, admin, device_id, type="sync").json
    assert _send(api, other_admin, device_id, type="sync").status_code == 404
    path = f"/v1/devices/{device_id}/commands/{command['id']}"
    assert api.call("GET", path, other_admin).status_code == 404
    assert (
        api.call(
            "GET", f"/v1/devices/{other_device}/commands/{command['id']}", other_admin
        ).status_code
        == 404
    )
    assert _ack(api, other_token, command["id"], "done").status_code == 404
    assert api.call("GET", "/v1/device/commands", other_token).json["items"] == []
    assert _send(api, admin, "dev_unknown", type="sync").status_code == 404
    # A device token cannot send, an admin token cannot acknowledge.
    assert _send(api, token, device_id, type="sync").status_code == 403
    assert _ack(api, admin, command["id"], "done").status_code == 403
    # Decommissioned: the device and its commands are gone.
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
    assert api.call("GET", path, admin).status_code == 404
    assert _send(api, admin, device_id, type="sync").status_code == 404
    assert len(publisher.commands) == 1


def test_a_broker_that_is_down_leaves_the_command_pending_for_the_pick_up(
    api: Api, publisher: RecordingPublisher
) -> None:
    publisher.up = False
    admin = api.tenant()
    device_id, token = api.device(admin)
    sent = _send(api, admin, device_id, type="snapshot")
    assert sent.status_code == 202
    assert [c["id"] for c in api.call("GET", "/v1/device/commands", token).json["items"]] == [
        sent.json["id"]
    ]
    metrics = api.call(
        "GET", "/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"}
    )
    assert 'lomuz_push_commands_total{outcome="dropped"} 1.0' in metrics.text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(["type", "value", "expires_at", "state", "result", "id"])
BODIES = st.dictionaries(FIELDS | st.text(max_size=8), JSON_VALUES, max_size=4) | JSON_VALUES


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, raw=st.binary(max_size=60))
def test_hostile_bodies_never_get_a_500(api: Api, body: Any, raw: bytes) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    command = _send(api, admin, device_id, type="sync").json
    for method, path, who in (
        ("POST", f"/v1/devices/{device_id}/commands", admin),
        ("POST", f"/v1/device/commands/{command['id']}", token),
    ):
        for payload in (json.dumps(body).encode(), raw):
            reply = api.call(
                method, path, who, body=payload, headers={"Content-Type": "application/json"}
            )
            assert reply.status_code < 500, reply.text
            assert reply.status_code in (200, 202, 400, 409, 422), reply.text


def test_a_devices_commands_are_listed_newest_first_in_pages_with_their_results(
    api: Api, clock: Clock
) -> None:
    admin = api.tenant()
    device_id, token = api.device(admin)
    other_id, _ = api.device(admin, "other")
    sent = [_send(api, admin, device_id, type=t).json["id"] for t in ("sync", "skip", "snapshot")]
    _send(api, admin, other_id, type="sync")
    assert _ack(api, token, sent[2], "done", {"volume": 30}).status_code == 200
    clock.at += timedelta(hours=1)  # the first two expire unanswered

    first = api.call("GET", f"/v1/devices/{device_id}/commands", admin, params={"limit": "2"})
    assert first.status_code == 200, first.text
    assert [c["id"] for c in first.json["items"]] == [sent[2], sent[1]]
    assert first.json["items"][0]["state"] == "done"
    assert first.json["items"][0]["result"] == {"volume": 30}
    assert first.json["items"][1]["state"] == "expired"
    after = {"limit": "2", "after": first.json["next"]}
    rest = api.call("GET", f"/v1/devices/{device_id}/commands", admin, params=after)
    assert [c["id"] for c in rest.json["items"]] == [sent[0]] and rest.json["next"] is None

    other_admin = api.tenant("other")
    assert api.call("GET", f"/v1/devices/{device_id}/commands", other_admin).status_code == 404
    assert api.call("GET", f"/v1/devices/{device_id}/commands", token).status_code in (401, 403)
