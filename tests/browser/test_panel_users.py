"""The Users page in Chromium: an admin adds a director and resets a password; nobody else may."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Account, Panel

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]


def test_an_admin_adds_a_viewer_who_signs_in_and_may_only_read(
    panel: Panel, page: Page, phone_page: Page
) -> None:
    panel.sign_in(page, panel.admin)
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/users$"))

    page.get_by_label("Email", exact=True).fill("new.viewer@shop-a.test")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()

    row = page.get_by_role("row", name=re.compile("new.viewer@shop-a.test"))
    expect(row).to_contain_text("viewer")
    viewer = Account("new.viewer@shop-a.test", PASSWORD, "viewer", panel.admin.tenant_id)
    panel.sign_in(phone_page, viewer)  # a second browser
    expect(phone_page.get_by_text("new.viewer@shop-a.test")).to_be_visible()
    expect(phone_page.get_by_role("link", name="Users")).to_have_count(0)
    assert phone_page.request.get("/users", max_redirects=0).status == 403


def test_a_new_password_signs_the_user_out_of_their_open_browser(
    panel: Panel, page: Page, phone_page: Page
) -> None:
    editor = panel.add_director("editor@shop-a.test", "editor")
    panel.sign_in(phone_page, editor)
    panel.sign_in(page, panel.admin)
    page.goto("/users")

    page.get_by_label(f"New password for {editor.email}").fill("a brand new passphrase")
    page.get_by_role("row", name=re.compile(editor.email)).get_by_role(
        "button", name="Reset password"
    ).click()

    expect(page).to_have_url(re.compile(r"/users\?done=password$"))
    expect(page.get_by_role("alert")).to_have_count(0)  # no refusal
    expect(page.get_by_role("status")).to_contain_text("signed out everywhere")
    phone_page.reload()
    expect(phone_page).to_have_url(re.compile(r"/login\?next="))
    panel.sign_in(phone_page, replace(editor, password="a brand new passphrase"))
    expect(phone_page.get_by_text(editor.email)).to_be_visible()


def test_the_users_page_fits_a_phone(panel: Panel, phone_page: Page) -> None:
    panel.add_director("area.manager@shop-a.test", "viewer")
    panel.sign_in(phone_page, panel.admin)
    phone_page.goto("/users")

    reset = phone_page.get_by_role("button", name="Reset password").first
    expect(reset).to_be_visible()
    box = reset.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390


def test_disabling_signs_the_user_out_at_once_and_enabling_lets_them_back(
    panel: Panel, page: Page, phone_page: Page
) -> None:
    editor = panel.add_director("editor@shop-a.test", "editor")
    panel.sign_in(page, editor)
    panel.sign_in(phone_page, panel.admin)  # the admin, on a phone
    phone_page.goto("/users")
    disable = phone_page.get_by_role("button", name=f"Disable {editor.email}")
    disable.focus()
    phone_page.keyboard.press("Enter")
    expect(phone_page.get_by_role("status")).to_contain_text("User disabled.")
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    expect(phone_page.get_by_role("button", name=f"Disable {panel.admin.email}")).to_have_count(0)

    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill(editor.email)
    page.get_by_label("Password").fill(editor.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This account is disabled.")

    phone_page.get_by_role("button", name=f"Enable {editor.email}").click()
    expect(phone_page.get_by_role("status")).to_contain_text("User enabled.")
    panel.sign_in(page, editor)
    expect(page.get_by_text(editor.email)).to_be_visible()
