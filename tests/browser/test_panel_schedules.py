"""The Schedules section in Chromium: schedule a playlist to a group, see it listed and
in the group's week calendar (an overnight window on both of its days), at 1280 and 390 px."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel
from tests.control_api.media_samples import wav

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]


def seed_playlist(panel: Panel, name: str) -> dict[str, Any]:
    """A playlist of one song, made through the JSON API with the tenant's admin token."""
    headers = {"Authorization": f"Bearer {panel.tenant['admin_token']}"}
    song = httpx.post(
        f"{panel.url}/v1/assets",
        content=wav(name.encode()),
        params={"title": f"{name} song"},
        headers={**headers, "Content-Type": "audio/wav"},
        timeout=30,
    )
    assert song.status_code == 201, song.text
    made = httpx.post(
        f"{panel.url}/v1/playlists",
        json={"name": name, "items": [{"asset_id": song.json()["id"]}]},
        headers=headers,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    playlist: dict[str, Any] = made.json()
    return playlist


def schedule_to_group(page: Page, playlist: str, group: str) -> None:
    """The new-schedule form, by its labels: Mondays 22:00 until 06:00 for ``group``."""
    page.goto("/schedules")
    page.get_by_label("Playlist").fill(playlist)  # its whole name: no suggestion needed
    page.get_by_role("radio", name="A group").check()
    page.get_by_label('Group (when "A group")').fill(group)
    for day in ("Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        page.get_by_role("checkbox", name=day).uncheck()
    page.get_by_label("From (HH:MM)").fill("22:00")
    page.get_by_label("Until (HH:MM)").fill("06:00")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status")).to_have_text("The schedule was created.")


def test_schedule_it_to_a_group_and_see_it_win_overnight(panel: Panel, page: Page) -> None:
    seed_playlist(panel, "Night shift")
    panel.add_device("Main Street till", groups=("north",))
    panel.sign_in(page, panel.admin)

    schedule_to_group(page, "Night shift", "north")

    row = page.locator("table.schedules tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator('td[data-label="Playlist"]')).to_have_text("Night shift")
    expect(row.locator('td[data-label="Target"]')).to_have_text("group north")
    expect(row.locator('td[data-label="Days"]')).to_have_text("Mon")
    expect(row.locator('td[data-label="Window"]')).to_contain_text("overnight")

    row.get_by_role("link", name="group week").click()
    page.get_by_label("Week of", exact=True).fill("2026-12-02")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Week calendar: group north")
    monday_night = page.locator('td[data-day="2026-11-30"][data-hour="23:00"]')
    tuesday_morning = page.locator('td[data-day="2026-12-01"][data-hour="05:00"]')
    tuesday_night = page.locator('td[data-day="2026-12-01"][data-hour="23:00"]')
    expect(monday_night).to_have_text("Night shift")
    expect(tuesday_morning).to_have_text("Night shift")
    expect(tuesday_night).not_to_have_text("Night shift")
    expect(page.locator(".legend")).to_contain_text("playlist")


def test_on_a_phone_the_form_and_the_week_fit_and_errors_sit_by_their_field(
    panel: Panel, phone_page: Page
) -> None:
    page = phone_page
    seed_playlist(panel, "Morning")
    panel.sign_in(page, panel.admin)
    page.goto("/schedules")
    page.get_by_label("Playlist").fill("Morning")
    page.get_by_role("radio", name="A group").check()
    page.get_by_label("From (HH:MM)").fill("25:00")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator("#start_time-error")).to_contain_text("HH:MM")
    expect(page.locator("#group-error")).to_be_visible()
    expect(page.get_by_label("From (HH:MM)")).to_have_value("25:00")  # kept as typed
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert page_width <= 390

    schedule_to_group(page, "Morning", "south")
    page.goto("/schedules/week?group=south&week=2026-11-30")
    # The grid scrolls inside its own region; the page itself does not.
    expect(page.get_by_role("region", name="Week view, scrolls sideways")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    expect(page.locator('td[data-day="2026-11-30"][data-hour="22:00"]')).to_have_text("Morning")


def test_the_playlist_picker_suggests_as_typed_and_works_by_keyboard_on_a_phone(
    panel: Panel, phone_page: Page
) -> None:
    page = phone_page
    seed_playlist(panel, "Morning")
    evening = seed_playlist(panel, "Evening news")
    panel.sign_in(page, panel.admin)
    page.goto("/schedules")
    field = page.get_by_label("Playlist")
    field.focus()
    page.keyboard.type("news")  # htmx asks /schedules/playlists for the matches
    options = page.locator("#schedule-playlists option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", evening["id"])
    expect(options.first).to_have_text("Evening news")
    field.fill(evening["id"])  # what picking the suggestion fills in
    page.get_by_role("radio", name="All devices").check()
    page.get_by_label("Priority").focus()
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_role("status")).to_have_text("The schedule was created.")
    row = page.locator("table.schedules tbody tr")
    expect(row.locator('td[data-label="Playlist"]')).to_have_text("Evening news")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
