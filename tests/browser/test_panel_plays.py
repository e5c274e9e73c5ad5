"""The Plays page in Chromium (issue 12): read the plays chart, change the date range,
download the CSV with titles and device names."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel
from tests.browser.test_panel_devices import enroll_by_api
from tests.control_api.media_samples import wav

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def _upload(panel: Panel, title: str, payload: bytes) -> dict[str, Any]:
    done = httpx.post(
        f"{panel.url}/v1/assets",
        params={"title": title},
        content=wav(payload),
        headers={
            "Authorization": f"Bearer {panel.tenant['admin_token']}",
            "Content-Type": "audio/wav",
        },
        timeout=30,
    )
    assert done.status_code == 201, done.text
    asset: dict[str, Any] = done.json()
    return asset


def _played(panel: Panel, device_token: str, asset: dict[str, Any], at: list[datetime]) -> None:
    """What a player uploads: ``POST /v1/device/plays``."""
    plays = [
        {
            "id": str(uuid.uuid4()),
            "asset_id": asset["id"],
            "sha256": asset["sha256"],
            "started_at": started.isoformat().replace("+00:00", "Z"),
            "ended_at": (started + timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
            "source": "playlist",
            "outcome": "completed",
        }
        for started in at
    ]
    done = httpx.post(
        f"{panel.url}/v1/device/plays",
        json={"plays": plays},
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=30,
    )
    assert done.status_code == 200 and not done.json()["rejected"], done.text


def _seed(panel: Panel) -> tuple[date, date]:
    """Two assets, two devices; day 1 (3 days ago): Till 1 plays the song 3 times; day 2:
    Till 1 the jingle once, Till 2 the song twice. Both days are in the last 7."""
    today = datetime.now(UTC).date()
    day_1, day_2 = today - timedelta(days=3), today - timedelta(days=2)
    song = _upload(panel, "Morning song", b"song")
    jingle = _upload(panel, "Jingle, short", b"jingle")
    till_1 = enroll_by_api(panel, panel.add_device("Till 1"))
    till_2 = enroll_by_api(panel, panel.add_device("Till 2"))

    def at(day: date, *hours: int) -> list[datetime]:
        return [datetime.combine(day, time(h), tzinfo=UTC) for h in hours]

    _played(panel, till_1, song, at(day_1, 9, 10, 11))
    _played(panel, till_1, jingle, at(day_2, 9))
    _played(panel, till_2, song, at(day_2, 10, 11))
    return day_1, day_2


def _bar(page: Page, chart: str, key: str) -> Any:
    return page.locator(f'svg[data-chart="{chart}"] g[data-key="{key}"]')


def test_read_the_plays_chart_change_the_range_and_download_the_csv(
    panel: Panel, page: Page, tmp_path: Path
) -> None:
    day_1, day_2 = _seed(panel)
    panel.sign_in(page, panel.admin)
    page.get_by_role("link", name="Plays").click()
    expect(page).to_have_url(re.compile(r"/plays$"))
    expect(page.get_by_text("the last 7 days")).to_be_visible()

    # The chart: each bar's <title> (its tooltip) and data-plays say its number.
    expect(_bar(page, "per-day", day_1.isoformat()).locator("title")).to_have_text(
        re.compile(r": 3 plays$")
    )
    expect(_bar(page, "per-day", day_2.isoformat())).to_have_attribute("data-plays", "3")
    assets = page.locator("table.plays-top-assets tbody tr")
    expect(assets.first).to_contain_text("Morning song")
    expect(assets.first.locator('td[data-label="Plays"]')).to_have_text("5")
    devices = page.locator("table.plays-top-devices tbody tr")
    expect(devices).to_have_count(2)
    expect(devices.first).to_contain_text("Till 1")

    page.get_by_label("From", exact=True).fill(day_2.isoformat())
    page.get_by_label("To", exact=True).fill(day_2.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"from={day_2.isoformat()}&to={day_2.isoformat()}"))
    expect(page.locator("table.plays-per-day tbody tr")).to_have_count(1)
    expect(devices.first).to_contain_text("Till 2")
    expect(devices.first.locator('td[data-label="Plays"]')).to_have_text("2")
    expect(devices.nth(1).locator('td[data-label="Plays"]')).to_have_text("1")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    download = downloading.value
    assert download.suggested_filename == f"plays-{day_2}-to-{day_2}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [(r["device_name"], r["asset_title"]) for r in rows] == [
        ("Till 1", "Jingle, short"),
        ("Till 2", "Morning song"),
        ("Till 2", "Morning song"),
    ]
    assert all(r["device_id"] and r["asset_id"] for r in rows)


def test_the_plays_page_fits_a_phone(panel: Panel, phone_page: Page) -> None:
    _seed(panel)
    panel.sign_in(phone_page, panel.admin)
    phone_page.goto("/plays")

    expect(phone_page.locator('svg[data-chart="per-day"]')).to_be_visible()
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    expect(phone_page.get_by_role("link", name="Download CSV")).to_be_visible()
