"""The harness itself: Debian's Chromium loads what the API serves, scripts run under its CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from control_api.panel.static_files import static_url

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
