"""Webhooks to a real receiver on loopback, through the real sender thread and its
httpx client: a signed delivery, a retry after a 500, a receiver that is down and
comes back; and a real ``lomuz-control serve`` whose requests a hanging or absent
receiver never slows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from control_api.app import create_app
from control_api.core.webhooks import verify
from control_api.settings import load_settings
from control_api.store.db import Database
from tests.control_api.alerts.receiver import Receiver, free_port, wait_until
from tests.control_api.conftest import Api
from tests.control_api.openapi_check import CheckedClient

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CLIENT_TIMEOUT_S = 3.0  # an API request that waited for a 5 s webhook timeout fails


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {
        **settings_env,
        "LOMUZ_WEBHOOKS_ALLOW_HTTP": "1",
        "LOMUZ_WEBHOOKS_ALLOW_PRIVATE": "1",  # the receivers here listen on 127.0.0.1
        "LOMUZ_WEBHOOK_POLL_S": "1",
        "LOMUZ_ALERTS_SWEEP_S": "3600",
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(settings_env: dict[str, str], clock: Clock) -> Iterator[Api]:
    config = load_settings(settings_env)
    migrator = Database(config.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(config, now=clock)
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


def log(api: Api, admin: str, webhook_id: str) -> list[dict[str, Any]]:
    answer = api.call("GET", f"/v1/webhooks/{webhook_id}/deliveries", admin)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json["items"]
    return items


def storage_full_hook(api: Api, url: str) -> tuple[str, dict[str, Any], str, str]:
    admin = api.tenant()
    hook = api.call(
        "POST", "/v1/webhooks", admin, json={"url": url, "events": ["device.storage_full"]}
    )
    assert hook.status_code == 201, hook.text
    device_id, token = api.device(admin, name="till 7")
    return admin, hook.json, device_id, token


def test_storage_full_arrives_once_signed_with_the_secret(api: Api) -> None:
    with Receiver().running() as receiver:
        admin, hook, device_id, token = storage_full_hook(api, receiver.url)
        for _ in range(2):
            api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
        [got] = receiver.wait_for(1)
        wait_until(lambda: log(api, admin, hook["id"])[0]["state"] == "delivered")
        time.sleep(0.5)  # a second delivery would have arrived by now
        assert len(receiver.received) == 1
    signed = got.headers["X-Lomuz-Signature"]
    assert verify(hook["secret"], signed, got.body, int(time.time()))
    assert not verify("another secret", signed, got.body, int(time.time()))
    assert got.headers["X-Lomuz-Event"] == "device.storage_full"
    assert got.headers["Content-Type"] == "application/json"
    event = json.loads(got.body)
    assert event["type"] == "device.storage_full"
    assert event["device"] == {"id": device_id, "name": "till 7"}
    [entry] = log(api, admin, hook["id"])
    assert got.headers["X-Lomuz-Delivery"] == entry["id"] and event["id"] == entry["event_id"]


def test_a_500_is_retried_after_the_backoff_and_the_log_shows_the_attempts(
    api: Api, clock: Clock
) -> None:
    with Receiver([500]).running() as receiver:
        admin, hook, _, token = storage_full_hook(api, receiver.url)
        api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
        receiver.wait_for(1)
        wait_until(lambda: log(api, admin, hook["id"])[0]["attempts"] == 1)
        [entry] = log(api, admin, hook["id"])
        assert (entry["state"], entry["last_status"], entry["last_error"]) == (
            "pending",
            500,
            "HTTP 500",
        )
        retry_at = datetime.fromisoformat(entry["next_attempt_at"])
        assert T0 + timedelta(seconds=24) <= retry_at <= T0 + timedelta(seconds=36)
        clock.at = retry_at + timedelta(seconds=1)
        api.app.alerting.wake()  # type: ignore[attr-defined]
        first, second = receiver.wait_for(2)
        wait_until(lambda: log(api, admin, hook["id"])[0]["state"] == "delivered")
    [entry] = log(api, admin, hook["id"])
    assert (entry["attempts"], entry["last_status"], entry["last_error"]) == (2, 200, None)
    assert first.body == second.body  # the same event, signed again
    assert first.headers["X-Lomuz-Delivery"] == second.headers["X-Lomuz-Delivery"]


def test_a_webhook_url_that_cannot_be_sent_to_is_a_failed_attempt_and_holds_up_no_other(
    api: Api,
) -> None:
    """A host the URL check lets through but the HTTP client refuses (bad punycode):
    its attempt is logged as failed, and another tenant's delivery goes out as usual."""
    bad_admin, bad_hook, _, bad_token = storage_full_hook(api, "https://xn--a.com/hook")
    api.call("POST", "/v1/device/telemetry", bad_token, json={"storage_full": True})
    with Receiver().running() as receiver:
        admin, hook, _, token = storage_full_hook(api, receiver.url)
        api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
        receiver.wait_for(1)
        wait_until(lambda: log(api, admin, hook["id"])[0]["state"] == "delivered")
    wait_until(lambda: log(api, bad_admin, bad_hook["id"])[0]["attempts"] == 1)
    [entry] = log(api, bad_admin, bad_hook["id"])
    assert entry["state"] == "pending" and entry["last_status"] is None
    assert entry["last_error"].startswith("cannot send")


def test_a_receiver_that_is_down_gets_the_event_when_it_is_back(api: Api, clock: Clock) -> None:
    port = free_port()
    admin, hook, _, token = storage_full_hook(api, f"http://127.0.0.1:{port}/hook")
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
    wait_until(lambda: log(api, admin, hook["id"])[0]["attempts"] == 1)
    [entry] = log(api, admin, hook["id"])
    assert entry["state"] == "pending" and entry["last_status"] is None
    assert "ConnectError" in entry["last_error"]
    with Receiver(port=port).running() as receiver:
        clock.at += timedelta(minutes=2)
        api.app.alerting.wake()  # type: ignore[attr-defined]
        receiver.wait_for(1)
        wait_until(lambda: log(api, admin, hook["id"])[0]["state"] == "delivered")


# ---------------------------------------------------------------- a real server


def _enrolled_device(client: httpx.Client, admin: str) -> str:
    auth = {"Authorization": f"Bearer {admin}"}
    created = client.post("/v1/devices", json={"name": "till 9"}, headers=auth)
    assert created.status_code == 201, created.text
    enrolled = client.post(
        "/v1/enroll", json={"enrollment_code": created.json()["enrollment_code"]}
    )
    assert enrolled.status_code == 201, enrolled.text
    token: str = enrolled.json()["device_token"]
    return token


@pytest.mark.parametrize("receiver_kind", ["hanging", "down"])
def test_a_hanging_or_absent_receiver_never_slows_the_api(
    server: tuple[str, str], receiver_kind: str
) -> None:
    base, admin = server
    auth = {"Authorization": f"Bearer {admin}"}
    hanging = Receiver(hang_s=30)
    with hanging.running(), httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT_S) as client:
        url = hanging.url if receiver_kind == "hanging" else f"http://127.0.0.1:{free_port()}/h"
        hook = client.post(
            "/v1/webhooks", json={"url": url, "events": ["device.storage_full"]}, headers=auth
        )
        assert hook.status_code == 201, hook.text
        device = {"Authorization": f"Bearer {_enrolled_device(client, admin)}"}
        sent = client.post("/v1/device/telemetry", json={"storage_full": True}, headers=device)
        assert sent.status_code == 204
        if receiver_kind == "hanging":
            hanging.wait_for(1)  # the sender is now waiting on it
        for _ in range(3):  # every request answers within the client's bound meanwhile
            assert client.get("/v1/devices", headers=auth).status_code == 200
            assert client.post("/v1/device/telemetry", json={}, headers=device).status_code == 204
        deliveries = f"/v1/webhooks/{hook.json()['id']}/deliveries"

        def attempted() -> bool:
            items = client.get(deliveries, headers=auth).json()["items"]
            return bool(items) and items[0]["attempts"] == 1

        wait_until(attempted, timeout_s=20)
        [entry] = client.get(deliveries, headers=auth).json()["items"]
    assert entry["state"] == "pending"  # retried later
    assert entry["next_attempt_at"] > entry["created_at"]
    expected = "timed out" if receiver_kind == "hanging" else "ConnectError"
    assert expected in entry["last_error"]
