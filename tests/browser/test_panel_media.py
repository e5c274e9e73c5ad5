"""The Media section in Chromium: upload two files and watch their progress, the same
bytes again are "already in the library", the preview loads, a delete names the playlist."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel
from tests.control_api.media_samples import png, wav

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

ROWS = "#media-table tbody tr"
UPLOADS = "[data-upload-list] li"


def _file(name: str, mime_type: str, data: bytes) -> dict[str, object]:
    return {"name": name, "mimeType": mime_type, "buffer": data}


def _playlist(panel: Panel, name: str, asset_id: str) -> None:
    made = httpx.post(
        f"{panel.url}/v1/playlists",
        json={"name": name, "items": [{"asset_id": asset_id}]},
        headers={"Authorization": f"Bearer {panel.tenant['admin_token']}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text


def test_upload_two_files_then_preview_and_a_delete_names_the_playlist(
    panel: Panel, page: Page
) -> None:
    panel.sign_in(page, panel.admin)
    page.goto("/media")
    expect(page.get_by_text("The library is empty.")).to_be_visible()
    song, poster = wav(b"song" * 2000), png(b"poster")
    chooser = page.get_by_label("Choose files…")
    chooser.set_input_files(
        [_file("song.wav", "audio/wav", song), _file("poster.png", "image/png", poster)]  # type: ignore[list-item]
    )

    rows = page.locator(UPLOADS)
    expect(rows).to_have_count(2)
    for name in ("song.wav", "poster.png"):
        row = rows.filter(has_text=name)
        expect(row).to_have_attribute("data-state", "added")
        expect(row.locator(".upload-status")).to_have_text("added")
        expect(row.locator("progress")).to_have_js_property("value", 100)
    expect(page.locator(ROWS)).to_have_count(2)  # the table refreshed when both were done

    chooser.set_input_files([_file("again.wav", "audio/wav", song)])  # type: ignore[list-item]
    again = page.locator(UPLOADS).filter(has_text="again.wav")
    expect(again.locator(".upload-status")).to_have_text("already in the library")
    chooser.set_input_files([_file("fake.wav", "audio/wav", b"not audio at all, text")])  # type: ignore[list-item]
    fake = page.locator(UPLOADS).filter(has_text="fake.wav")
    expect(fake).to_have_attribute("data-state", "error")
    expect(fake.locator(".upload-status")).not_to_have_text(re.compile("added|uploading"))
    expect(page.locator(ROWS)).to_have_count(2)

    page.locator(ROWS).filter(has_text="poster.png").get_by_role("link").click()
    image = page.locator(".preview img")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('.preview img').naturalWidth === 1")

    page.goto("/media")
    song_row = page.locator(ROWS).filter(has_text="song.wav")
    asset_id = song_row.get_attribute("data-asset")
    assert asset_id
    _playlist(panel, "Morning mix", asset_id)
    song_row.get_by_role("link").click()
    page.wait_for_function("() => document.querySelector('.preview audio').readyState >= 1")
    duration = page.evaluate("() => document.querySelector('.preview audio').duration")
    assert duration > 0

    page.get_by_role("button", name="Delete…").click()
    expect(page.locator("ul.used-by")).to_have_text("Morning mix")
    expect(page.get_by_role("button", name="Yes, delete")).to_have_count(0)


def test_on_a_phone_the_library_is_cards_and_an_upload_shows_its_bar(
    panel: Panel, phone_page: Page
) -> None:
    panel.sign_in(phone_page, panel.admin)
    phone_page.goto("/media")
    phone_page.get_by_label("Choose files…").set_input_files(
        [_file("tiny.wav", "audio/wav", wav(b"tiny"))]  # type: ignore[list-item]
    )
    expect(phone_page.locator(UPLOADS)).to_have_attribute("data-state", "added")
    expect(phone_page.locator(ROWS)).to_have_count(1)
    width = phone_page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390


def test_files_dropped_on_the_zone_upload_each_with_its_row(panel: Panel, page: Page) -> None:
    panel.sign_in(page, panel.admin)
    page.goto("/media")
    # What a drag from the desktop delivers: a DataTransfer holding the files.
    dropped = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, type, bytes] of files) {
                transfer.items.add(new File([new Uint8Array(bytes)], name, {type}));
            }
            return transfer;
        }""",
        [["one.png", "image/png", list(png(b"one"))], ["two.png", "image/png", list(png(b"two"))]],
    )
    page.locator("[data-drop-zone]").dispatch_event("drop", {"dataTransfer": dropped})
    rows = page.locator(UPLOADS)
    expect(rows).to_have_count(2)
    for name in ("one.png", "two.png"):
        expect(rows.filter(has_text=name)).to_have_attribute("data-state", "added")
    expect(page.locator(ROWS)).to_have_count(2)
