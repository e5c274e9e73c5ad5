"""Alerts in Chromium on a phone: the fleet page's Alerts box and column lead to the
device's "Presence and alerts" card, and both pages fit 390 px."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def test_an_open_alert_is_seen_from_the_fleet_page_down_to_the_device(
    panel: Panel, phone_page: Page
) -> None:
    admin = {"Authorization": f"Bearer {panel.tenant['admin_token']}"}
    hook = {"url": "https://hooks.example/lomuz", "events": ["device.storage_full"]}
    made = httpx.post(f"{panel.url}/v1/webhooks", json=hook, headers=admin, timeout=30)
    assert made.status_code == 201, made.text
    device = panel.add_device("Main Street till with a long name")
    enrolled = httpx.post(
        f"{panel.url}/v1/enroll", json={"enrollment_code": device["enrollment_code"]}, timeout=30
    )
    assert enrolled.status_code == 201, enrolled.text
    box = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
    sent = httpx.post(
        f"{panel.url}/v1/device/telemetry", json={"storage_full": True}, headers=box, timeout=30
    )
    assert sent.status_code == 204, sent.text

    panel.sign_in(phone_page, panel.admin)
    alerts = phone_page.locator("#alerts")
    expect(alerts).to_contain_text("1 device has open alerts")
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    alerts.get_by_role("link", name="Main Street till with a long name").click()

    phone_page.wait_for_url(f"**/devices/{device['id']}#presence-alerts")
    card = phone_page.get_by_role("region", name="Presence and alerts")
    expect(card.locator(".open-alerts li")).to_have_text([re.compile(r"^Storage full since")])
    expect(card.locator(".alert-events tbody tr")).to_have_count(1)
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
