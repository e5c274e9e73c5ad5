"""Presence transitions and alerts on the device and fleet pages (issue 13), through the
real app on SQLite and PostgreSQL: presence recorded by ``services.presence``, alerts
opened by telemetry and by the offline sweep, deliveries sent by the app's sender."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from control_api.core.alert_summary import AlertEvent
from control_api.panel.alert_views import delivery_text
from control_api.services import alerts, presence
from control_api.webhook_http import PostResult
from tests.control_api.alerts.receiver import wait_until
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import Browser, Clock, Panel, make_panel_api
from tests.control_api.panel.html import Element, parse, table_rows

HOOK = "https://hooks.example/lomuz"
ALL_EVENTS = [
    "device.offline",
    "device.online",
    "device.storage_full",
    "device.playback_stopped",
    "device.sync_failing",
]
BERLIN = "Europe/Berlin"


class Receiver:
    """The webhook sender's HTTP client: answers ``status`` to every POST."""

    def __init__(self) -> None:
        self.status = 200

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        return PostResult(self.status, None)

    def close(self) -> None:
        pass


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def api(settings_env: dict[str, str], clock: Clock, receiver: Receiver) -> Iterator[Api]:
    """The panel's app with a fake webhook receiver; the sweep idles (tests run it)."""
    env = {
        **settings_env,
        "LOMUZ_TELEMETRY_INTERVAL_S": "10",
        "LOMUZ_ALERTS_SWEEP_S": "3600",
        "LOMUZ_WEBHOOK_POLL_S": "3600",
    }
    yield from make_panel_api(env, clock, webhook_poster=receiver)


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    return parse(answer.text)


def _webhook(api: Api, admin: str, **body: Any) -> str:
    made = api.call("POST", "/v1/webhooks", admin, json={"url": HOOK, "events": ALL_EVENTS, **body})
    assert made.status_code == 201, made.text
    return str(made.json["id"])


def _telemetry(api: Api, token: str, **status: Any) -> None:
    sent = api.call("POST", "/v1/device/telemetry", token, json=status)
    assert sent.status_code == 204, sent.text


def _states(api: Api, admin: str, webhook_id: str) -> list[str]:
    answer = api.call("GET", f"/v1/webhooks/{webhook_id}/deliveries", admin)
    assert answer.status_code == 200, answer.text
    return [d["state"] for d in answer.json["items"]]


def _card(page: Element) -> Element:
    return page.find("section", id="presence-alerts")


def _local(at: Any) -> str:
    return str(at.astimezone(ZoneInfo(BERLIN)).strftime("%Y-%m-%d %H:%M %Z"))


def _signed_in(panel: Panel) -> tuple[Browser, str, str]:
    tenant_id, admin = panel.tenant()
    return panel.signed_in("viewer", tenant_id), admin, tenant_id


def test_the_device_page_shows_transitions_open_alerts_and_their_events(
    api: Api, panel: Panel, clock: Clock
) -> None:
    me, admin, _ = _signed_in(panel)
    hook = _webhook(api, admin, offline_after_s=60)
    device_id, token = api.device(admin, "Till 1", timezone=BERLIN)
    _telemetry(api, token, storage_full=True)  # opens storage_full
    full_at = clock.now()
    clock.advance(150)  # minutes apart: the page shows minutes
    online_at = clock.now()
    assert presence.record_presence(panel.db, device_id, "online", online_at) == "recorded"
    clock.advance(150)
    offline_at = clock.now()
    assert presence.record_presence(panel.db, device_id, "offline", offline_at) == "recorded"
    clock.advance(120)
    assert api.app.alerting.sweep_once() == 1  # type: ignore[attr-defined]  # opens offline
    wait_until(lambda: _states(api, admin, hook) == ["delivered", "delivered"])

    card = _card(_page(me.get(f"/devices/{device_id}")))

    now_line = card.find("p", class_="presence-now")
    assert now_line.attrs["data-state"] == "offline"
    assert now_line.text() == f"Offline since {_local(offline_at)} ."
    transitions = card.find("ol", class_="transitions").find_all("li")
    assert [li.attrs["data-state"] for li in transitions] == ["offline", "online"]
    assert transitions[1].text() == f"{_local(online_at)} — came online"
    opened = card.find("ul", class_="open-alerts").find_all("li")
    assert [li.attrs["data-kind"] for li in opened] == ["offline", "storage_full"]
    assert opened[1].text().startswith(f"Storage full since {_local(full_at)}")
    assert "scheduled media" in opened[1].text()  # said in a director's words
    events = table_rows(card, "alert-events")
    assert [(e["What happened"], e["Webhooks"]) for e in events] == [
        ("Went offline", "delivered"),
        ("Storage full", "delivered"),
    ]
    assert events[1]["When"] == _local(full_at)


def test_two_webhooks_holding_one_alert_make_one_line_and_one_event(
    api: Api, panel: Panel, receiver: Receiver
) -> None:
    me, admin, _ = _signed_in(panel)
    first, second = _webhook(api, admin), _webhook(api, admin)
    receiver.status = 503  # the receivers are down: each try fails, to be retried
    device_id, token = api.device(admin, "Till 2", timezone=BERLIN)
    _telemetry(api, token, now_playing={"state": "silence"})
    wait_until(
        lambda: all(
            d["attempts"] == 1
            for w in (first, second)
            for d in api.call("GET", f"/v1/webhooks/{w}/deliveries", admin).json["items"]
        )
    )

    card = _card(_page(me.get(f"/devices/{device_id}")))

    opened = card.find("ul", class_="open-alerts").find_all("li")
    assert [li.attrs["data-kind"] for li in opened] == ["playback_stopped"]
    events = table_rows(card, "alert-events")
    assert len(events) == 1
    assert events[0]["data-state"] == "pending"
    assert events[0]["What happened"] == "Playback stopped"
    assert events[0]["Webhooks"] == (
        "pending, 0 of 2 delivered; retrying after a failed try: HTTP 503"
    )


def test_the_fleet_page_marks_devices_with_open_alerts_and_lists_them(
    api: Api, panel: Panel
) -> None:
    me, admin, _ = _signed_in(panel)
    _webhook(api, admin)
    troubled, token = api.device(admin, "Bakery", timezone=BERLIN)
    _, calm_token = api.device(admin, "Butcher")
    _telemetry(api, token, storage_full=True, sync_failures=9, last_sync_error="timeout")
    _telemetry(api, calm_token, storage_full=False)

    page = _page(me.get("/devices"))

    rows = {r["Name"]: r for r in table_rows(page, "devices")}
    assert rows["Bakery"]["data-alerts"] == "storage_full sync_failing"
    assert rows["Bakery"]["Alerts"] == "Storage full Sync failing"
    assert (rows["Butcher"]["data-alerts"], rows["Butcher"]["Alerts"]) == ("", "—")
    box = page.find("section", id="alerts")
    assert box.find("p").text() == "1 device has open alerts:"
    [listed] = box.find("ul", class_="alerted-devices").find_all("li")
    assert listed.attrs["data-device"] == troubled
    assert listed.find("a").attrs["href"] == f"/devices/{troubled}#presence-alerts"
    assert listed.text().startswith("Bakery : storage full since")
    # An htmx filter swap brings the column along (the box stays where it is).
    swapped = _page(me.get("/devices?q=Bak", headers={"HX-Request": "true"}))
    assert [r["Alerts"] for r in table_rows(swapped, "devices")] == ["Storage full Sync failing"]


def test_another_tenants_alerts_never_appear(api: Api, panel: Panel) -> None:
    me, admin, tenant_id = _signed_in(panel)
    _webhook(api, admin)
    mine, _ = api.device(admin, "Mine")
    other_tenant, other_admin = panel.tenant("other")
    _webhook(api, other_admin)
    theirs, their_token = api.device(other_admin, "Theirs")
    _telemetry(api, their_token, storage_full=True)

    fleet = _page(me.get("/devices"))
    assert [r["Name"] for r in table_rows(fleet, "devices")] == ["Mine"]
    assert fleet.find("section", id="alerts").find("p", class_="no-alerts").text() == (
        "No open alerts."
    )
    card = _card(_page(me.get(f"/devices/{mine}")))
    assert card.find("p", class_="no-alerts").text() == "No open alerts."
    assert card.find_all("table", class_="alert-events") == []
    assert me.get(f"/devices/{theirs}").status_code == 404
    # The use case itself reads only the tenant's rows, whatever id it is given.
    seen = alerts.device_alert_summary(panel.db, tenant_id, theirs, 10)
    assert (seen.open, seen.events) == ([], [])
    assert alerts.open_alerts_by_device(panel.db, tenant_id, [theirs]) == {}
    assert [
        a.kind for a in alerts.open_alerts_by_device(panel.db, other_tenant, [theirs])[theirs]
    ] == ["storage_full"]


def test_empty_states_say_what_is_missing(api: Api, panel: Panel) -> None:
    me, admin, _ = _signed_in(panel)
    device_id, token = api.device(admin, "Quiet")
    _telemetry(api, token, storage_full=True)  # no webhook: no alert is kept

    card = _card(_page(me.get(f"/devices/{device_id}")))
    assert "POST /v1/webhooks" in card.find("p", class_="no-webhooks").text()
    assert card.find_all("ul", class_="open-alerts") == []
    assert "push link" in card.find("p", class_="no-transitions").text()
    assert card.find("p", class_="presence-now").text().startswith("Online (last seen")
    box = _page(me.get("/devices")).find("section", id="alerts")
    assert "docs/ALERTS.md" in box.find("p", class_="no-webhooks").text()

    _webhook(api, admin)
    card = _card(_page(me.get(f"/devices/{device_id}")))
    assert card.find_all("p", class_="no-webhooks") == []
    assert card.find("p", class_="no-alerts").text() == "No open alerts."
    assert card.find("p", class_="no-events").text().startswith("No alert events")


def test_the_fleet_page_reads_open_alerts_in_one_query_however_many_devices(
    api: Api, panel: Panel
) -> None:
    me, admin, _ = _signed_in(panel)
    _webhook(api, admin)
    statements: list[str] = []
    me_thread = threading.get_ident()

    def count(*args: Any) -> None:
        if threading.get_ident() == me_thread and "webhook_alerts" in args[2]:
            statements.append(args[2])

    event.listen(api.db.engine, "before_cursor_execute", count)
    counts = []
    for name in ("A", "B", "C"):
        _, token = api.device(admin, name)
        _telemetry(api, token, storage_full=True)
        statements.clear()
        rows = table_rows(_page(me.get("/devices")), "devices")
        assert all(r["Alerts"] == "Storage full" for r in rows)
        counts.append(len(statements))
    assert counts[0] == counts[-1] <= 3, statements


def test_an_online_device_with_push_says_since_when(api: Api, panel: Panel, clock: Clock) -> None:
    me, admin, _ = _signed_in(panel)
    device_id, _ = api.device(admin, "Pushed", timezone=BERLIN)
    clock.advance(1)
    assert presence.record_presence(panel.db, device_id, "online", clock.now()) == "recorded"
    line = _card(_page(me.get(f"/devices/{device_id}"))).find("p", class_="presence-now")
    assert line.text() == f"Online since {_local(clock.now())} ."


def test_the_delivery_line_in_words() -> None:
    clock_at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def event(state: str, receivers: int = 1, **counts: int) -> AlertEvent:
        problem = "connection refused" if state != "delivered" else None
        return AlertEvent(
            "device.offline",
            clock_at,
            state,
            receivers,
            counts.get("delivered", 0),
            counts.get("failed", 0),
            problem,
        )

    assert delivery_text(event("delivered")) == "delivered"
    assert delivery_text(event("delivered", 3, delivered=3)) == "delivered to 3 webhooks"
    assert delivery_text(event("failed", 2, failed=1, delivered=1)) == (
        "failed for 1 of 2 webhooks, no more tries: connection refused"
    )
    assert delivery_text(event("pending")) == (
        "pending; retrying after a failed try: connection refused"
    )
