"""Webhooks through the API (SQLite and PostgreSQL): create (the secret shown once),
list, read, delete, the delivery log; alerts from telemetry and the offline sweep
on a clock the test moves; decommission; every answer checked against the OpenAPI
document (``CheckedClient``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from control_api.app import create_app
from control_api.core.webhooks import verify
from control_api.services.webhooks import MAX_WEBHOOKS_PER_TENANT
from control_api.settings import load_settings
from control_api.store.db import Database
from control_api.webhook_http import PostResult
from tests.control_api.alerts.receiver import wait_until
from tests.control_api.conftest import METRICS_TOKEN, Api
from tests.control_api.openapi_check import CheckedClient

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
HOOK = "https://hooks.example/lomuz"


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


class RecordingPoster:
    """Answers 200 to every POST and records it (the sender's HTTP client)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        self.posts.append((url, body, headers))
        return PostResult(200, None)

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster()


@pytest.fixture
def api(settings_env: dict[str, str], clock: Clock, poster: RecordingPoster) -> Iterator[Api]:
    """The API on the test's clock; the sweep idles (the test drives it), the sender
    wakes when telemetry queues an event."""
    env = {
        **settings_env,
        "LOMUZ_TELEMETRY_INTERVAL_S": "10",
        "LOMUZ_ALERTS_SWEEP_S": "3600",
        "LOMUZ_WEBHOOK_POLL_S": "3600",
    }
    config = replace(load_settings(env))
    migrator = Database(config.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(config, now=clock, webhook_poster=poster)
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


def create(api: Api, admin: str, **body: Any) -> Any:
    return api.call("POST", "/v1/webhooks", admin, json={"url": HOOK, **body})


def deliveries(api: Api, admin: str, webhook_id: str) -> list[dict[str, Any]]:
    answer = api.call("GET", f"/v1/webhooks/{webhook_id}/deliveries", admin)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json["items"]
    return items


def test_create_shows_the_secret_once_then_read_list_delete(api: Api) -> None:
    admin = api.tenant()
    created = create(api, admin, events=["device.offline", "device.online"])
    assert created.status_code == 201, created.text
    hook = created.json
    assert created.headers["Location"] == f"/v1/webhooks/{hook['id']}"
    assert len(hook["secret"]) == 43
    assert (hook["offline_after_s"], hook["sync_failures"]) == (600, 5)
    read = api.call("GET", f"/v1/webhooks/{hook['id']}", admin)
    assert read.status_code == 200 and "secret" not in read.json
    assert read.json == {k: v for k, v in hook.items() if k != "secret"}
    listed = api.call("GET", "/v1/webhooks", admin)
    assert [w["id"] for w in listed.json["items"]] == [hook["id"]]
    assert "secret" not in listed.json["items"][0]
    assert api.call("DELETE", f"/v1/webhooks/{hook['id']}", admin).status_code == 204
    assert api.call("GET", f"/v1/webhooks/{hook['id']}", admin).status_code == 404
    assert api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries", admin).status_code == 404


def test_pages_follow_the_cursor(api: Api) -> None:
    admin = api.tenant()
    ids = [create(api, admin, events=["device.offline"]).json["id"] for _ in range(3)]
    first = api.call("GET", "/v1/webhooks", admin, params={"limit": "2"})
    second = api.call(
        "GET", "/v1/webhooks", admin, params={"limit": "2", "after": first.json["next"]}
    )
    assert [w["id"] for w in first.json["items"] + second.json["items"]] == ids
    assert second.json["next"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example/", "events": ["device.offline"]}, "url"),
        ({"url": "hooks.example", "events": ["device.offline"]}, "url"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": ["device.exploded"]}, "events[0]"),
        ({"url": HOOK, "events": ["device.offline", "device.offline"]}, "events"),
        ({"url": HOOK, "events": ["device.offline"], "offline_after_s": 5}, "offline_after_s"),
        ({"url": HOOK, "events": ["device.offline"], "sync_failures": 0}, "sync_failures"),
        ({"url": HOOK, "events": ["device.offline"], "secret": "mine"}, "secret"),
        ({"events": ["device.offline"]}, "url"),
    ],
)
def test_bad_bodies_get_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    answer = api.call("POST", "/v1/webhooks", api.tenant(), json=body)
    assert answer.status_code == 422, answer.text
    assert (
        f"`{field}`" in answer.json["error"]["message"] or field in answer.json["error"]["message"]
    )


def test_a_tenant_has_a_bounded_number_of_webhooks(api: Api) -> None:
    admin = api.tenant()
    for _ in range(MAX_WEBHOOKS_PER_TENANT):
        assert create(api, admin, events=["device.offline"]).status_code == 201
    refused = create(api, admin, events=["device.offline"])
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "too_many_webhooks"


def test_another_tenants_webhook_is_not_found(api: Api) -> None:
    mine = create(api, api.tenant("a"), events=["device.offline"]).json["id"]
    other = api.tenant("b")
    for method, path in (
        ("GET", f"/v1/webhooks/{mine}"),
        ("DELETE", f"/v1/webhooks/{mine}"),
        ("GET", f"/v1/webhooks/{mine}/deliveries"),
    ):
        assert api.call(method, path, other).status_code == 404
    assert api.call("GET", "/v1/webhooks", other).json["items"] == []


def test_storage_full_fires_once_until_cleared(api: Api) -> None:
    admin = api.tenant()
    hook = create(api, admin, events=["device.storage_full"]).json
    device_id, token = api.device(admin, name="till 1")
    for _ in range(3):
        sent = api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
        assert sent.status_code == 204
    [only] = deliveries(api, admin, hook["id"])
    assert (only["event_type"], only["device_id"]) == ("device.storage_full", device_id)
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": False})
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
    assert [d["event_type"] for d in deliveries(api, admin, hook["id"])] == [
        "device.storage_full"
    ] * 2


def test_sync_failing_after_n_failed_syncs_and_playback_stopped(api: Api) -> None:
    admin = api.tenant()
    hook = create(
        api, admin, events=["device.sync_failing", "device.playback_stopped"], sync_failures=3
    ).json
    _, token = api.device(admin)
    for count in (1, 2):
        status = {"sync_failures": count, "last_sync_error": "ApiError: 503"}
        api.call("POST", "/v1/device/telemetry", token, json=status)
    assert deliveries(api, admin, hook["id"]) == []
    status = {"sync_failures": 3, "now_playing": {"state": "no_audio"}}
    api.call("POST", "/v1/device/telemetry", token, json=status)
    assert {d["event_type"] for d in deliveries(api, admin, hook["id"])} == {
        "device.sync_failing",
        "device.playback_stopped",
    }


def test_a_silent_device_goes_offline_once_then_online_once(api: Api, clock: Clock) -> None:
    admin = api.tenant()
    hook = create(api, admin, events=["device.offline", "device.online"], offline_after_s=60).json
    _, token = api.device(admin)
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": False})
    assert api.app.alerting.sweep_once() == 0  # type: ignore[attr-defined]
    clock.at += timedelta(seconds=59)
    assert api.app.alerting.sweep_once() == 0  # type: ignore[attr-defined]
    clock.at += timedelta(seconds=2)
    assert api.app.alerting.sweep_once() == 1  # type: ignore[attr-defined]
    clock.at += timedelta(seconds=600)
    assert api.app.alerting.sweep_once() == 0  # type: ignore[attr-defined]
    [offline] = deliveries(api, admin, hook["id"])
    assert offline["event_type"] == "device.offline"
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": False})
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": False})
    assert api.app.alerting.sweep_once() == 0  # type: ignore[attr-defined]
    assert [d["event_type"] for d in deliveries(api, admin, hook["id"])] == [
        "device.online",
        "device.offline",
    ]


def test_the_sweep_sees_a_device_back_from_any_request(api: Api, clock: Clock) -> None:
    admin = api.tenant()
    hook = create(api, admin, events=["device.online"], offline_after_s=60).json
    _, token = api.device(admin)
    api.call("POST", "/v1/device/telemetry", token, json={})
    clock.at += timedelta(seconds=120)
    api.app.alerting.sweep_once()  # type: ignore[attr-defined]
    assert deliveries(api, admin, hook["id"]) == []  # not subscribed to device.offline
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200
    assert api.app.alerting.sweep_once() == 1  # type: ignore[attr-defined]
    [online] = deliveries(api, admin, hook["id"])
    assert online["event_type"] == "device.online"


def test_sent_deliveries_are_signed_and_logged_as_delivered(
    api: Api, poster: RecordingPoster
) -> None:
    admin = api.tenant()
    hook = create(api, admin, events=["device.storage_full"]).json
    device_id, token = api.device(admin, name="till 2")
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
    wait_until(lambda: deliveries(api, admin, hook["id"])[0]["state"] == "delivered")
    [entry] = deliveries(api, admin, hook["id"])
    assert (entry["attempts"], entry["last_status"], entry["last_error"]) == (1, 200, None)
    assert entry["delivered_at"] == "2026-12-03T09:00:00Z"
    [(url, body, headers)] = poster.posts
    assert url == HOOK
    assert headers["X-Lomuz-Event"] == "device.storage_full"
    assert headers["X-Lomuz-Delivery"] == entry["id"]
    assert verify(hook["secret"], headers["X-Lomuz-Signature"], body, int(time.time()))
    event = json.loads(body)
    assert event["id"] == entry["event_id"] and event["type"] == "device.storage_full"
    assert event["device"] == {"id": device_id, "name": "till 2"}
    assert event["created_at"] == "2026-12-03T09:00:00Z"
    metrics = api.call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert 'lomuz_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics.text


def test_decommission_removes_the_devices_alerts_and_deliveries(api: Api) -> None:
    admin = api.tenant()
    hook = create(api, admin, events=["device.storage_full"]).json
    device_id, token = api.device(admin)
    api.call("POST", "/v1/device/telemetry", token, json={"storage_full": True})
    assert len(deliveries(api, admin, hook["id"])) == 1
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
    assert deliveries(api, admin, hook["id"]) == []
