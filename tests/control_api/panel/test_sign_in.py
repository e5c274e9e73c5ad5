"""Signing in and out of the panel: the form, the session cookie, where it leads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from control_api.core.proxies import parse_networks
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import PASSWORD, Clock, Panel, make_panel_api


def test_the_panel_without_a_session_is_the_sign_in_form(panel: Panel) -> None:
    browser = panel.browser()
    root = browser.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/login"
    form = browser.get("/login")
    assert form.status_code == 200
    assert re.search(r'<label for="email">Email</label>', form.text)
    assert re.search(r'<label for="password">Password</label>', form.text)
    assert '<button type="submit">Sign in</button>' in form.text
    assert 'name="csrf_token"' in form.text


def test_sign_in_leads_to_the_devices_and_sign_out_ends_the_session(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "Ed@Shop.Example", "editor")
    browser = panel.browser()
    signed_in = browser.sign_in("ed@SHOP.example")  # emails compare case-insensitively
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    assert browser.director is not None and browser.director.email == "ed@shop.example"
    home = browser.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/devices"
    cookie = browser.cookies["lomuz_session"]
    out = browser.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "lomuz_session" not in browser.cookies
    # The old cookie names a deleted session.
    browser.cookies["lomuz_session"] = cookie
    assert browser.get("/").headers["location"] == "/login"


def test_wrong_password_and_unknown_email_read_the_same(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    wrong = panel.browser().sign_in("ed@shop.example", "not the password")
    unknown = panel.browser("192.0.2.11").sign_in("nobody@shop.example", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    alert = re.compile(r'role="alert">([^<]*)<')
    assert alert.findall(wrong.text) == alert.findall(unknown.text) == ["Wrong email or password."]
    assert "lomuz_session" not in wrong.cookies and "lomuz_session" not in unknown.cookies


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/devices?page=2", "/devices?page=2"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/logout", "/"),
    ],
)
def test_after_sign_in_only_a_page_of_this_site(panel: Panel, asked: str, lands: str) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    result = panel.browser().sign_in("ed@shop.example", next_path=asked)
    assert result.status_code == 303 and result.headers["location"] == lands


def test_the_login_form_refuses_a_post_without_its_csrf_cookie(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    browser = panel.browser()
    forged = browser.post(
        "/login", {"email": "ed@shop.example", "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert "lomuz_session" not in browser.cookies
    # The refusal hands out a fresh form: signing in then works.
    assert browser.sign_in("ed@shop.example").status_code == 303


def test_the_session_cookie_is_httponly_lax_and_secure_only_over_https(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    plain = panel.browser()
    plain.sign_in("ed@shop.example")
    over_http = _session_cookie(panel, protocol="http")
    assert over_http.http_only and over_http.same_site == "Lax" and over_http.path == "/"
    assert not over_http.secure
    assert _session_cookie(panel, protocol="https").secure
    # X-Forwarded-Proto from a peer that is not a trusted proxy is not believed.
    forwarded = _session_cookie(panel, headers={"X-Forwarded-Proto": "https"})
    assert not forwarded.secure


def _session_cookie(panel: Panel, **kw: Any) -> Any:
    browser = panel.browser()
    page = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token is not None
    form = {"email": "ed@shop.example", "password": PASSWORD, "csrf_token": token.group(1)}
    result = browser.post("/login", form, csrf=False, **kw)
    assert result.status_code == 303, result.text
    return result.cookies["lomuz_session"]


@pytest.fixture
def behind_proxy(settings_env: dict[str, str], clock: Clock) -> Iterator[Api]:
    yield from make_panel_api(settings_env, clock, trusted_proxies=parse_networks("192.0.2.0/24"))


def test_a_trusted_proxy_saying_https_makes_the_cookie_secure(
    behind_proxy: Api, clock: Clock
) -> None:
    panel = Panel(behind_proxy, clock)
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    cookie = _session_cookie(panel, headers={"X-Forwarded-Proto": "https"})
    assert cookie.secure


def test_machine_tokens_keep_working_and_a_session_is_not_one(panel: Panel) -> None:
    browser = panel.signed_in("admin")
    _, admin_token = panel.tenant()
    assert panel.api.call("GET", "/v1/devices", admin_token).status_code == 200
    cookie_only = browser.get("/v1/devices")
    assert cookie_only.status_code == 401
    assert cookie_only.json["error"]["code"] == "missing_token"


def test_panel_errors_are_pages_and_the_api_keeps_json(panel: Panel) -> None:
    browser = panel.signed_in("viewer")
    missing = browser.get("/users/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no such page." in missing.text
    fragment = browser.get("/users/nothing-here", headers={"HX-Request": "true"})
    assert fragment.text.startswith('<p class="notice error"')
    api_missing = panel.api.call("GET", "/v1/nothing")
    assert api_missing.headers["content-type"].startswith("application/json")


def test_signing_in_again_ends_the_browsers_previous_session(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    browser = panel.browser()
    browser.sign_in("ed@shop.example")
    first = browser.cookies["lomuz_session"]
    # Signed in, the form is skipped.
    assert browser.get("/login?next=/devices").headers["location"] == "/devices"
    # A sign-in form posted with the old session's cookie (a second tab) replaces it.
    browser.cookies["lomuz_login_csrf"] = "a form from another tab"
    form = {
        "email": "ed@shop.example",
        "password": PASSWORD,
        "csrf_token": "a form from another tab",
    }
    assert browser.post("/login", form, csrf=False).status_code == 303
    assert browser.cookies["lomuz_session"] != first
    old = panel.browser()
    old.cookies["lomuz_session"] = first
    assert old.get("/").headers["location"] == "/login"
    assert browser.get("/").headers["location"] == "/devices"
