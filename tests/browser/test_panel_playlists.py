"""The Playlists pages in Chromium: build a playlist by drag and drop; an edit conflict."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Panel
from tests.control_api.media_samples import png

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

ITEMS = "#playlist-items li"


def upload_image(panel: Panel, title: str) -> Any:
    made = httpx.post(
        f"{panel.url}/v1/assets",
        params={"title": title},
        content=png(title.encode()),
        headers={
            "Authorization": f"Bearer {panel.tenant['admin_token']}",
            "Content-Type": "image/png",
        },
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return made.json()


def test_build_a_playlist_by_drag_and_drop(panel: Panel, page: Page) -> None:
    upload_image(panel, "Spring poster")
    upload_image(panel, "Summer poster")
    panel.sign_in(page, panel.admin)
    page.get_by_role("link", name="Playlists").click()
    page.get_by_label("Name").fill("Window")
    page.get_by_role("button", name="Create playlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Window")

    search = page.get_by_role("searchbox", name="Title or file name")
    search.fill("spring")
    expect(page.locator("#library-results li")).to_have_count(1)
    page.get_by_role("button", name="Add Spring poster").click()
    page.get_by_role("searchbox", name="Title or file name").fill("summer")
    expect(page.locator("#library-results li")).to_have_count(1)
    page.get_by_role("button", name="Add Summer poster").click()
    expect(page.locator(ITEMS)).to_have_count(2)
    expect(page.locator(ITEMS).nth(0)).to_contain_text("Spring poster")

    handles = page.locator(f"{ITEMS} .handle")
    handles.nth(1).drag_to(handles.nth(0))
    expect(page.locator(ITEMS).nth(0)).to_contain_text("Summer poster")
    page.locator(ITEMS).nth(0).get_by_label("Duration (s)").fill("4")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_have_text("Saved.")

    page.reload()
    expect(page.locator(ITEMS).nth(0)).to_contain_text("Summer poster")
    expect(page.locator(ITEMS).nth(1)).to_contain_text("Spring poster")
    expect(page.locator("[data-total]")).to_have_text("14 s")  # 4 s + the default 10 s


def test_an_edit_conflict_shows_the_reload_message(
    panel: Panel, page: Page, browser: Browser
) -> None:
    upload_image(panel, "Poster")
    panel.sign_in(page, panel.admin)
    page.goto("/playlists")
    page.get_by_label("Name").fill("Shared")
    page.get_by_role("button", name="Create playlist").click()
    editor_url = page.url.split("?")[0]

    other = browser.new_context(base_url=panel.url)
    try:
        second = other.new_page()
        panel.sign_in(second, panel.admin)
        second.goto(editor_url)
        page.get_by_label("Name", exact=True).fill("Shared, first")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status").first).to_have_text("Saved.")

        second.get_by_label("Name", exact=True).fill("Shared, second")
        second.get_by_role("button", name="Save", exact=True).click()
        alert = second.get_by_role("alert")
        expect(alert).to_contain_text("Changed by someone else — reload")
        alert.get_by_role("link", name="reload").click()
        expect(second.get_by_role("heading", level=1)).to_have_text("Shared, first")
    finally:
        other.close()


def test_the_editor_fits_a_phone_and_move_up_works_from_the_keyboard(
    panel: Panel, phone_page: Page
) -> None:
    first, second = upload_image(panel, "First poster"), upload_image(panel, "Second poster")
    made = httpx.post(
        f"{panel.url}/v1/playlists",
        json={"name": "Phone", "items": [{"asset_id": first["id"]}, {"asset_id": second["id"]}]},
        headers={"Authorization": f"Bearer {panel.tenant['admin_token']}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    panel.sign_in(phone_page, panel.admin)
    phone_page.goto(f"/playlists/{made.json()['id']}")
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    phone_page.get_by_role("button", name="Move up Second poster").focus()
    phone_page.keyboard.press("Enter")
    expect(phone_page.locator(ITEMS).nth(0)).to_contain_text("Second poster")
    phone_page.get_by_role("button", name="Save", exact=True).click()
    expect(phone_page.get_by_role("status").first).to_have_text("Saved.")
