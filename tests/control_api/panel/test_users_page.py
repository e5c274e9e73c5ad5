"""``/users``: admins list, add and reset accounts of their own tenant; nobody else sees it."""

from __future__ import annotations

import pytest

from control_api.panel.director import Role
from control_api.services import accounts
from tests.control_api.panel.conftest import Panel


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_see_or_change_users(panel: Panel, role: Role) -> None:
    browser = panel.signed_in(role)
    assert browser.get("/users").status_code == 403
    form = {"email": "new@shop.example", "role": "admin", "password": "a long password"}
    assert browser.post("/users", form).status_code == 403
    assert 'href="/users"' not in browser.get("/users").text


def test_an_admin_adds_a_user_who_then_signs_in(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    admin = panel.signed_in("admin", tenant_id)
    page = admin.get("/users")
    assert page.status_code == 200 and 'href="/users"' in page.text
    form = {"email": "New@Shop.example", "role": "viewer", "password": "a long password"}
    added = admin.post("/users", form)
    assert added.status_code == 303 and added.headers["location"] == "/users?done=added"
    listed = accounts.list_users(panel.db, tenant_id)
    assert [(u.email, u.role) for u in listed if u.email.startswith("new")] == [
        ("new@shop.example", "viewer")
    ]
    assert panel.browser().sign_in("new@shop.example", "a long password").status_code == 303
    again = admin.post("/users", form)
    assert again.status_code == 409 and "already has a director user" in again.text
    short = admin.post("/users", {**form, "email": "b@shop.example", "password": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text


def test_an_admin_resets_a_password_in_the_own_tenant_only(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    other_tenant, _ = panel.tenant("other")
    panel.user(tenant_id, "ed@shop.example")
    panel.user(other_tenant, "far@other.example")
    admin = panel.signed_in("admin", tenant_id)
    ed = panel.browser()
    ed.sign_in("ed@shop.example")
    reset = admin.post(
        "/users/password", {"email": "ed@shop.example", "password": "fresh password"}
    )
    assert reset.status_code == 303
    assert ed.get("/").headers["location"] == "/login"  # signed out everywhere
    assert panel.browser().sign_in("ed@shop.example", "fresh password").status_code == 303
    elsewhere = admin.post(
        "/users/password", {"email": "far@other.example", "password": "fresh password"}
    )
    assert elsewhere.status_code == 404
    assert "far@other.example" not in admin.get("/users").text


def test_an_admin_disables_a_user_who_is_signed_out_and_enables_them_again(
    panel: Panel,
) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    admin = panel.signed_in("admin", tenant_id)
    ed = panel.browser()
    assert ed.sign_in("ed@shop.example").status_code == 303
    done = admin.post("/users/disable", {"email": "ed@shop.example"})
    assert done.status_code == 303 and done.headers["location"] == "/users?done=disabled"
    assert ed.get("/devices").headers["location"] == "/login?next=%2Fdevices"  # at once
    wrong = panel.browser().sign_in("ed@shop.example", "not the password")
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    right = panel.browser().sign_in("ed@shop.example")
    assert right.status_code == 403 and "This account is disabled." in right.text
    assert "lomuz_session" not in right.cookies
    page = admin.get("/users?done=disabled")
    assert "User disabled." in page.text and 'action="/users/enable"' in page.text
    assert admin.post("/users/enable", {"email": "ed@shop.example"}).status_code == 303
    assert panel.browser().sign_in("ed@shop.example").status_code == 303


def test_an_admin_cannot_disable_their_own_account(panel: Panel) -> None:
    admin = panel.signed_in("admin")
    assert admin.director is not None
    page = admin.get("/users")
    assert "cannot disable their own account" in page.text
    assert 'action="/users/disable"' not in page.text  # the only account is the admin's
    refused = admin.post("/users/disable", {"email": admin.director.email})
    assert refused.status_code == 409 and "cannot disable your own account" in refused.text
    assert admin.get("/users").status_code == 200  # still signed in


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_disable_or_enable(panel: Panel, role: Role) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    browser = panel.signed_in(role, tenant_id)
    for action in ("disable", "enable"):
        assert browser.post(f"/users/{action}", {"email": "ed@shop.example"}).status_code == 403
    assert not any(u.disabled for u in accounts.list_users(panel.db, tenant_id))


def test_disabling_needs_the_csrf_token_and_an_account_of_the_own_tenant(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    other_tenant, _ = panel.tenant("other")
    panel.user(tenant_id, "ed@shop.example")
    panel.user(other_tenant, "far@other.example")
    admin = panel.signed_in("admin", tenant_id)
    no_csrf = admin.post("/users/disable", {"email": "ed@shop.example"}, csrf=False)
    assert no_csrf.status_code == 403
    elsewhere = admin.post("/users/disable", {"email": "far@other.example"})
    assert elsewhere.status_code == 404
    states = [
        u.disabled
        for tenant in (tenant_id, other_tenant)
        for u in accounts.list_users(panel.db, tenant)
    ]
    assert states == [False, False, False]
