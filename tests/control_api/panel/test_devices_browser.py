"""The Devices page in a real browser (Debian's Chromium): 390 px wide, htmx filters,
the keyboard. Skipped without /usr/bin/chromium, failed without it in CI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from tests.browser.conftest import chromium_path
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import PASSWORD, Panel

pytestmark = pytest.mark.browser


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    httpd: WSGIServer = make_server("127.0.0.1", 0, api.app, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)
        httpd.server_close()


def test_the_devices_page_at_390_px_filters_in_place_and_works_by_keyboard(
    api: Api, panel: Panel, server: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    tenant_id, admin = panel.tenant()
    panel.user(tenant_id, "ed@shop.example", "editor")
    for name in ("Front till", "Back office", "Front door"):
        api.device(admin, name)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path()), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{server}/login?next=/devices")
        page.get_by_label("Email").fill("ed@shop.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server}/devices")
        rows = page.locator("table.devices tbody tr")
        assert rows.count() == 3
        # Nothing wider than the screen: the table is one card per device.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("table.devices thead").is_hidden()
        # htmx: typing filters the table in place and the URL follows.
        page.evaluate("window.__kept = true")
        page.get_by_label("Name", exact=True).fill("front")
        expect(rows).to_have_count(2)
        assert page.evaluate("window.__kept") is True  # no full page load
        assert "q=front" in page.url
        # The keyboard: Tab from the top reaches the skip link, then a device by Enter.
        page.goto(f"{server}/devices")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        link = page.locator("table.devices a", has_text="Back office")
        link.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/devices/dev*")
        assert page.locator("h1").inner_text().startswith("Back office")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        browser.close()
