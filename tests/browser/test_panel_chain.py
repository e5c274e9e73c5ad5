"""The whole chain in Chromium, as a director and a box do it: an editor uploads two
recordings on the Media page, builds a playlist of both by drag and drop, schedules
it to a group, adds a device in that group with the Devices form, and a real
``lomuz-player`` (null backend) enrolls with the code the panel shows; the Devices
table then shows it online playing the playlist, and the Plays chart counts its play.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel
from tests.e2e.conftest import PlayerProcess, tail, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.timeout(110)]

UPLOADS = "[data-upload-list] li"
ITEMS = "#playlist-items li"
DEVICES = "#device-table tbody tr"
# The null backend "plays" each item for its duration (1 s): a play ends, and the
# player's next telemetry round (every 5 s, PlayerProcess's config) uploads it.
ITEM_S = "1"
WAIT_S = 60  # the longest the page is polled for what the player did
GROUP = "tills"

# What a drop of a file on the zone does (Playwright's drag_to drags no files).
DROP_FILE = """(zone, file) => {
  const bytes = Uint8Array.from(atob(file.base64), c => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], file.name, {type: file.type}));
  const drag = {dataTransfer: data, bubbles: true, cancelable: true};
  zone.dispatchEvent(new DragEvent("dragover", drag));
  zone.dispatchEvent(new DragEvent("drop", drag));
}"""


def _upload_two(page: Page) -> None:
    """One file dropped on the zone, one through the file chooser; both reach "added"."""
    page.get_by_role("link", name="Media").click()
    expect(page.get_by_text("The library is empty.")).to_be_visible()
    dropped = {
        "name": "Opening tone.wav",
        "type": "audio/wav",
        "base64": base64.b64encode(wav_bytes(1, duration_ms=3000)).decode(),
    }
    page.locator("[data-drop-zone]").evaluate(DROP_FILE, dropped)
    page.get_by_label("Choose files…").set_input_files(
        [{"name": "Closing tone.wav", "mimeType": "audio/wav", "buffer": wav_bytes(2, 3000)}]  # type: ignore[list-item]
    )
    rows = page.locator(UPLOADS)
    expect(rows).to_have_count(2)
    for name in ("Opening tone.wav", "Closing tone.wav"):
        row = rows.filter(has_text=name)
        expect(row).to_have_attribute("data-state", "added")
        expect(row.locator("progress")).to_have_js_property("value", 100)
    expect(page.locator("#media-table tbody tr")).to_have_count(2)


def _titles(page: Page) -> list[str]:
    """The library's titles as the Media table shows them (the upload names them)."""
    cells = page.locator('#media-table tbody tr td[data-label="Title"]')
    return [t.strip() for t in cells.all_inner_texts()]


def _build_playlist(page: Page, first: str, second: str) -> None:
    """Both in the editor, ``second`` dragged above ``first``, each capped to 1 s."""
    page.get_by_role("link", name="Playlists").click()
    page.get_by_label("Name").fill("Shop day")
    page.get_by_role("button", name="Create playlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Shop day")
    for title in (first, second):
        page.get_by_role("searchbox", name="Title or file name").fill(title)
        page.get_by_role("button", name=f"Add {title}").click()
    items = page.locator(ITEMS)
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text(first)
    handles = page.locator(f"{ITEMS} .handle")
    handles.nth(1).drag_to(handles.nth(0))
    expect(items.nth(0)).to_contain_text(second)
    for n in range(2):
        items.nth(n).get_by_label("Duration (s)").fill(ITEM_S)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_have_text("Saved.")
    page.reload()
    expect(items.nth(0)).to_contain_text(second)
    expect(items.nth(1)).to_contain_text(first)


def _schedule(page: Page) -> None:
    """Every day, the whole day (the form's defaults: 00:00 until 24:00), for the group."""
    page.get_by_role("link", name="Schedules").click()
    page.get_by_label("Playlist").fill("Shop day")  # its whole name: no suggestion needed
    page.get_by_role("radio", name="A group").check()
    page.get_by_label('Group (when "A group")').fill(GROUP)
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        expect(page.get_by_role("checkbox", name=day)).to_be_checked()
    expect(page.get_by_label("From (HH:MM)")).to_have_value("00:00")
    expect(page.get_by_label("Until (HH:MM)")).to_have_value("24:00")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status")).to_have_text("The schedule was created.")


def _add_device(page: Page) -> tuple[str, str]:
    """The Add device form; (the code shown, the API address its command names)."""
    page.get_by_role("link", name="Devices").click()
    page.get_by_text("Add device", exact=True).first.click()  # opens the <details>
    page.get_by_label("Device name").fill("Front till")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Groups").fill(GROUP)
    page.get_by_role("button", name="Add device").click()
    expect(page.get_by_role("heading", name="Enrollment code")).to_be_visible()
    expect(page.get_by_role("img", name="QR code of the enrollment code")).to_be_visible()
    code = page.locator(".enrollment-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code), code
    command = page.locator("pre code").first.inner_text()
    found = re.fullmatch(r"lomuz-player enroll --api (\S+) --code-stdin", command.strip())
    assert found, command
    return code, found.group(1)


def _poll(page: Page, probe: object, what: str, player: PlayerProcess) -> None:
    """Reload ``page`` until ``probe()`` holds, at most :data:`WAIT_S`."""
    assert callable(probe)
    deadline = time.monotonic() + WAIT_S
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {WAIT_S} s\n{tail(player.log_path)}")
        page.wait_for_timeout(1000)  # the page's own pace: one reload a second
        page.reload()


def test_upload_build_schedule_add_enroll_and_see_it_play(
    panel: Panel, page: Page, player: PlayerProcess
) -> None:
    editor = panel.add_director("editor@shop-a.test", "editor")
    panel.sign_in(page, editor)
    _upload_two(page)
    titles = _titles(page)
    opening = next(t for t in titles if t.startswith("Opening"))
    closing = next(t for t in titles if t.startswith("Closing"))
    _build_playlist(page, opening, closing)
    _schedule(page)
    code, api_url = _add_device(page)
    assert api_url == panel.url

    try:
        player.enroll(api_url, code)
        player.start()

        page.get_by_role("link", name="← Devices").click()
        row = page.locator(DEVICES, has_text="Front till")
        playing = row.locator('[data-label="Now playing"]')

        def online_and_playing() -> bool:
            return (
                row.get_attribute("data-state") == "online"
                and re.search(
                    rf"({re.escape(opening)}|{re.escape(closing)}) playlist\s+from Shop day",
                    playing.inner_text(),
                )
                is not None
            )

        _poll(page, online_and_playing, "the device online playing the playlist", player)
        expect(row).to_have_attribute("data-health", re.compile("green|amber"))

        page.get_by_role("link", name="Plays").click()
        today = datetime.now(UTC).date().isoformat()
        bar = page.locator(f'svg[data-chart="per-day"] g[data-key="{today}"]')

        def counted() -> bool:
            plays = bar.get_attribute("data-plays") if bar.count() else None
            return plays is not None and int(plays) >= 1

        _poll(page, counted, "a play in the Plays chart", player)
        top = page.locator("table.plays-top-devices tbody tr").first
        expect(top).to_contain_text("Front till")
    finally:
        player.close()
        _no_player_left(player)


def _no_player_left(player: PlayerProcess) -> None:
    """The daemon is gone: its status says no daemon answers."""
    try:
        status = player.status()
    except (AssertionError, subprocess.TimeoutExpired):
        return
    assert not status.get("daemon"), status
