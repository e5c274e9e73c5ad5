"""The Devices pages in Chromium: filters, enrollment with a real player, roles and tenants."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel
from tests.e2e.conftest import PlayerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]

ROWS = "#device-table tbody tr"


def enroll_by_api(panel: Panel, device: dict[str, Any]) -> str:
    """What a box does with the device's first code: ``POST /v1/enroll``; its token."""
    done = httpx.post(
        f"{panel.url}/v1/enroll", json={"enrollment_code": device["enrollment_code"]}, timeout=30
    )
    assert done.status_code == 201, done.text
    token: str = done.json()["device_token"]
    return token


def token_works(panel: Panel, device_token: str) -> bool:
    answer = httpx.get(
        f"{panel.url}/v1/device/manifest",
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=30,
    )
    return answer.status_code == 200


def page_csrf_token(page: Page) -> str:
    return page.locator('input[name="csrf_token"]').first.input_value()


def test_the_devices_table_filters_in_place_and_the_url_follows(panel: Panel, page: Page) -> None:
    panel.add_device("Main Street till", groups=("north",))
    panel.add_device("Harbour café", groups=("south",))
    panel.add_device("Station kiosk", groups=("north",))
    panel.sign_in(page, panel.admin)
    expect(page.locator(ROWS)).to_have_count(3)
    page.evaluate("() => { window.sameDocument = true }")  # gone after a full page load

    name = page.get_by_role("searchbox", name="Name")
    name.fill("kiosk")

    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_contain_text("Station kiosk")
    expect(page).to_have_url(re.compile(r"/devices\?.*q=kiosk"))
    name.fill("")
    page.get_by_label("Group", exact=True).fill("north")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/devices\?.*group=north"))
    assert page.evaluate("() => window.sameDocument") is True

    page.reload()  # the URL alone gives the same table and filters
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.get_by_label("Group", exact=True)).to_have_value("north")
    expect(page.get_by_text("Harbour café")).to_have_count(0)


def test_a_new_code_shows_with_its_qr_and_a_real_player_enrolled_with_it_comes_online(
    panel: Panel, page: Page, player: PlayerProcess
) -> None:
    panel.add_device("Front till", groups=("tills",))
    panel.sign_in(page, panel.admin)
    row = page.locator(ROWS, has_text="Front till")
    expect(row).to_contain_text("never seen")
    row.get_by_role("link", name="Front till").click()

    page.get_by_role("button", name="New enrollment code").click()

    expect(page.get_by_role("heading", name="New enrollment code")).to_be_visible()
    expect(page.get_by_role("img", name="QR code of the enrollment code")).to_be_visible()
    code = page.locator(".enrollment-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]+(-[0-9A-Z]+)+", code), code
    player.enroll(panel.url, code)
    player.start()

    page.get_by_role("link", name="← Devices").click()
    version = row.locator('[data-label="App version"]')

    def reported() -> bool:  # seen by its sync, and its first telemetry is in
        return row.get_attribute("data-state") == "online" and version.inner_text() != "—"

    deadline = time.monotonic() + 15  # the player reports every 5 s
    while not reported() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(row).to_have_attribute("data-state", "online")
    expect(version).not_to_have_text("—")


def test_a_viewer_sees_no_change_controls_and_a_forced_change_is_refused(
    panel: Panel, page: Page
) -> None:
    device = panel.add_device("Front till")
    device_token = enroll_by_api(panel, device)
    viewer = panel.add_director("viewer@shop-a.test", "viewer")
    panel.sign_in(page, viewer)

    page.get_by_role("link", name="Front till").click()

    expect(page.get_by_role("heading", name="Front till")).to_be_visible()
    expect(page.get_by_role("button", name="New enrollment code")).to_have_count(0)
    expect(page.get_by_role("button", name="Decommission")).to_have_count(0)
    change = f"/devices/{device['id']}/enrollment-code"
    without_token = page.request.post(change, form={}, max_redirects=0)
    with_token = page.request.post(change, form={"csrf_token": page_csrf_token(page)})
    assert without_token.status == 403
    assert with_token.status == 403
    assert "needs the editor role" in with_token.text()
    assert token_works(panel, device_token)  # no new code: the box's token still works


def test_a_change_without_the_csrf_token_is_refused_for_an_admin_too(
    panel: Panel, page: Page
) -> None:
    device = panel.add_device("Front till")
    device_token = enroll_by_api(panel, device)
    panel.sign_in(page, panel.admin)
    change = f"/devices/{device['id']}/enrollment-code"

    forged = page.request.post(change, form={}, max_redirects=0)
    wrong = page.request.post(change, form={"csrf_token": "not-the-token"}, max_redirects=0)

    assert (forged.status, wrong.status) == (403, 403)
    assert "CSRF" in forged.text()
    assert token_works(panel, device_token)


def test_a_director_of_another_tenant_sees_none_of_its_devices(panel: Panel, page: Page) -> None:
    theirs = panel.add_device("Shop A till")
    shop_b = panel.api.create_tenant("Shop B")
    panel.add_device("Shop B till", admin_token=shop_b["admin_token"])
    director_b = panel.add_director("director@shop-b.test", "admin", tenant_id=shop_b["tenant_id"])
    panel.sign_in(page, director_b)

    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_contain_text("Shop B till")
    expect(page.get_by_text("Shop A till")).to_have_count(0)
    answer = page.goto(f"/devices/{theirs['id']}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    refused = page.request.post(
        f"/devices/{theirs['id']}/enrollment-code", form={"csrf_token": page_csrf_token(page)}
    )
    assert refused.status == 404


def test_the_devices_table_fits_a_phone(panel: Panel, phone_page: Page) -> None:
    panel.add_device("Main Street till with a long name", groups=("north", "tills"))
    panel.sign_in(phone_page, panel.admin)

    expect(phone_page.locator(ROWS)).to_have_count(1)
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    expect(phone_page.get_by_role("link", name="Main Street till with a long name")).to_be_visible()


def test_the_edit_form_marks_a_bad_zone_then_saves_by_keyboard(panel: Panel, page: Page) -> None:
    device = panel.add_device("Front till", groups=("tills",))
    panel.sign_in(page, panel.admin)
    page.goto(f"/devices/{device['id']}")
    page.get_by_text("Edit device", exact=True).click()
    page.get_by_label("Device name").fill("Back till")
    page.get_by_label("Time zone").fill("Europe/Berln")
    page.get_by_label("Time zone").press("Enter")  # submits the form

    zone = page.get_by_label("Time zone")
    expect(zone).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#edit-timezone-error")).to_have_text(
        "unknown IANA time zone 'Europe/Berln'"
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Front till")  # not saved
    zone.fill("Europe/Berlin")
    page.get_by_label("Groups").fill("tills, south")
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Back till")
    facts = page.locator("dl.facts").nth(1)
    expect(facts).to_contain_text("south, tills")
    expect(facts).to_contain_text("Europe/Berlin")


def test_reloading_the_page_of_a_device_just_added_adds_no_second_one(
    panel: Panel, page: Page
) -> None:
    panel.sign_in(page, panel.admin)
    page.goto("/devices")
    page.get_by_text("Add device", exact=True).first.click()  # opens the <details>
    page.get_by_label("Device name").fill("Stockroom")
    page.get_by_role("button", name="Add device").click()
    expect(page.get_by_role("heading", name="Enrollment code")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/devices/[^/?]+$"))

    page.reload()  # a GET of the device's page: no form is sent again

    expect(page.get_by_role("heading", level=1)).to_contain_text("Stockroom")
    expect(page.get_by_role("heading", name="Enrollment code")).to_have_count(0)
    listed = httpx.get(
        f"{panel.url}/v1/devices",
        headers={"Authorization": f"Bearer {panel.tenant['admin_token']}"},
        timeout=30,
    )
    assert [d["name"] for d in listed.json()["items"]] == ["Stockroom"]
