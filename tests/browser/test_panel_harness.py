"""The harness itself, and the panel's pages in Chromium under their Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from control_api.panel.static_files import static_url
from tests.browser.conftest import Panel

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]


def test_the_api_reference_renders_in_chromium(page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto("/v1/docs")

    expect(page.get_by_role("heading", name=re.compile("Lomuz control API"))).to_be_visible()
    assert errors == []


def test_the_vendored_htmx_is_served_and_runs(page: Page) -> None:
    page.goto(static_url("htmx-LICENSE.txt"))

    response = page.request.get(static_url("htmx-2.0.11.min.js"))
    assert response.ok
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]
    page.add_script_tag(url=static_url("htmx-2.0.11.min.js"))
    assert page.evaluate("() => window.htmx.version") == "2.0.11"


def test_every_panel_page_runs_under_its_policy_without_a_console_error(
    panel: Panel, page: Page
) -> None:
    # A Content-Security-Policy violation (an inline style or script) is a console error.
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":  # base.html names an empty icon: no /favicon.ico 404
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    device = panel.add_device("Front till", groups=("tills",))

    page.goto("/login")
    panel.sign_in(page, panel.admin)
    assert page.evaluate("() => window.htmx.version") == "2.0.11"
    page.get_by_role("searchbox", name="Name").fill("front")
    expect(page).to_have_url(re.compile(r"q=front"))
    page.goto(f"/devices/{device['id']}")
    page.get_by_role("button", name="New enrollment code").click()
    expect(page.get_by_role("img", name="QR code of the enrollment code")).to_be_visible()
    page.get_by_role("button", name="Decommission").click()
    expect(page.get_by_role("button", name="Yes, decommission")).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert errors == []
