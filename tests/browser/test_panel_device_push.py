"""The device page's Commands and Overrides in Chromium: a Snapshot sent from the page
shows its result once the device answers (the list refreshes itself while the command
is open), and an override is started with "Play now" and cleared."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel
from tests.control_api.media_samples import wav

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

COMMANDS = "#device-commands tbody tr"
OVERRIDES = "#overrides li"


def _api(panel: Panel, method: str, path: str, token: str, **kw: Any) -> Any:
    answer = httpx.request(
        method, f"{panel.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw
    )
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else None


def _enrolled_device(panel: Panel) -> tuple[str, str]:
    device = panel.add_device("Main Street till", groups=("north",))
    done = httpx.post(
        f"{panel.url}/v1/enroll", json={"enrollment_code": device["enrollment_code"]}, timeout=30
    )
    assert done.status_code == 201, done.text
    return device["id"], done.json()["device_token"]


def _playlist(panel: Panel, name: str) -> str:
    admin = panel.tenant["admin_token"]
    song = httpx.post(
        f"{panel.url}/v1/assets",
        content=wav(name.encode()),
        params={"title": f"{name} song"},
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "audio/wav"},
        timeout=30,
    )
    assert song.status_code == 201, song.text
    made = _api(
        panel,
        "POST",
        "/v1/playlists",
        admin,
        json={"name": name, "items": [{"asset_id": song.json()["id"]}]},
    )
    return str(made["id"])


def test_a_snapshot_sent_from_the_page_shows_the_devices_answer(panel: Panel, page: Page) -> None:
    device_id, device_token = _enrolled_device(panel)
    panel.sign_in(page, panel.admin)
    page.goto(f"/devices/{device_id}")
    expect(page.locator("#device-commands")).to_contain_text("No commands sent yet.")

    page.get_by_role("button", name="Snapshot").click()

    expect(page.get_by_role("status")).to_have_text("The command was sent.")
    expect(page.locator(COMMANDS)).to_have_count(1)
    expect(page.locator(COMMANDS).first).to_have_attribute("data-state", "pending")
    [command] = _api(panel, "GET", "/v1/device/commands", device_token)["items"]
    assert command["type"] == "snapshot"
    result = {
        "state": "playing",
        "item": {"asset_id": "ast_1", "title": "Morning song"},
        "tier": "schedule",
        "volume": 65,
    }
    _api(
        panel,
        "POST",
        f"/v1/device/commands/{command['id']}",
        device_token,
        json={"state": "done", "result": result},
    )

    # No reload: the open command's list asks for itself until the device has answered.
    row = page.locator(COMMANDS).first
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("item Morning song, tier schedule, state playing, volume 65%")
    expect(page.locator("#device-commands")).to_have_attribute("data-open", "no")


def test_play_now_starts_an_override_on_the_device_and_clear_ends_it(
    panel: Panel, page: Page
) -> None:
    device_id, _ = _enrolled_device(panel)
    playlist_id = _playlist(panel, "Promo")
    panel.sign_in(page, panel.admin)
    page.goto(f"/devices/{device_id}")
    expect(page.locator("#overrides")).to_contain_text("No override is active.")

    form = page.get_by_role("form", name="Play now")
    form.get_by_label("Playlist").fill("Promo")
    form.get_by_label("For").select_option("15m")
    form.get_by_role("button", name="Play now").click()

    expect(page.get_by_role("status")).to_have_text("The override was started.")
    expect(page.locator(OVERRIDES)).to_have_count(1)
    expect(page.locator(OVERRIDES)).to_contain_text("Promo on device Main Street till, until")
    [override] = _api(panel, "GET", "/v1/overrides", panel.tenant["admin_token"])["items"]
    assert (override["playlist_id"], override["target"]) == (playlist_id, {"device_id": device_id})
    expect(page.locator(".decision")).to_contain_text("override")  # what plays here now

    page.locator(OVERRIDES).get_by_role("button", name="Clear").click()

    expect(page.get_by_role("status")).to_have_text("The override was cleared.")
    expect(page.locator("#overrides")).to_contain_text("No override is active.")
    assert _api(panel, "GET", "/v1/overrides", panel.tenant["admin_token"])["items"] == []
