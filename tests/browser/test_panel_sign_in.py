"""Signing in and out of the panel in Chromium, with the mouse, the keyboard and a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Panel

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]


def test_a_director_signs_in_through_the_form_and_out_again(panel: Panel, page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))

    panel.sign_in(page, panel.admin)

    expect(page).to_have_url(re.compile(r"/devices$"))
    expect(page.get_by_role("navigation", name="Sections")).to_contain_text("Devices")
    expect(page.get_by_text(panel.admin.email)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/devices")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdevices$"))


def test_a_wrong_password_shows_the_error_and_keeps_the_email(panel: Panel, page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(panel.admin.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_value(panel.admin.email)
    expect(page.get_by_label("Password")).to_have_value("")


def test_the_sign_in_form_works_by_keyboard_only(panel: Panel, page: Page) -> None:
    page.goto("/login")

    def tab_to() -> str:
        page.keyboard.press("Tab")
        focused: str = page.evaluate(
            "() => document.activeElement.id || document.activeElement.textContent.trim()"
        )
        return focused

    assert tab_to() == "Skip to content"
    assert tab_to() == "email"
    page.keyboard.type(panel.admin.email)
    assert tab_to() == "password"
    page.keyboard.type(panel.admin.password)
    assert tab_to() == "Sign in"
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/devices$"))


def test_the_sign_in_form_fits_a_phone(panel: Panel, phone_page: Page) -> None:
    phone_page.goto("/login")

    expect(phone_page.get_by_role("button", name="Sign in")).to_be_in_viewport()
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    panel.sign_in(phone_page, panel.admin)
    expect(phone_page).to_have_url(re.compile(r"/devices$"))


def test_a_change_without_the_csrf_token_is_refused_even_for_an_admin(
    panel: Panel, page: Page
) -> None:
    panel.sign_in(page, panel.admin)

    # The browser's own cookies, no token: what a forged cross-site form would send.
    forged = page.request.post("/logout", form={}, max_redirects=0)

    assert forged.status == 403
    assert "CSRF" in forged.text()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/devices$"))  # still signed in
