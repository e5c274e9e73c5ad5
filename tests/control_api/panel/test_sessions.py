"""The session middleware: CSRF on every change, roles, tenants, expiry, password resets."""

from __future__ import annotations

from collections.abc import Iterator

import falcon
import pytest

from control_api.panel.director import Role
from control_api.services import accounts
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import CHEAP_PASSWORDS, PASSWORD, Clock, Panel, make_panel_api


class _Change:
    """A panel page that changes something: what the middleware lets through."""

    auth = "session"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = f"tenant={req.context.director.tenant_id}"

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_204


class _AdminChange(_Change):
    change_role: Role = "admin"


@pytest.fixture
def routes(panel: Panel) -> Panel:
    panel.api.app.add_route("/panel/test-change", _Change())
    panel.api.app.add_route("/panel/test-admin", _AdminChange())
    return panel


def test_a_change_without_or_with_a_wrong_csrf_token_is_refused(routes: Panel) -> None:
    browser = routes.signed_in("editor")
    for form in ({}, {"csrf_token": "wrong"}, {"csrf_token": ""}):
        refused = browser.post("/panel/test-change", form, csrf=False)
        assert refused.status_code == 403
        assert "CSRF" in refused.text
    assert browser.post("/panel/test-change").status_code == 204
    header = {"X-CSRF-Token": browser.csrf_token}
    assert browser.request("POST", "/panel/test-change", headers=header).status_code == 204
    wrong_header = {"X-CSRF-Token": "x" + browser.csrf_token}
    assert browser.request("POST", "/panel/test-change", headers=wrong_header).status_code == 403


def test_sign_out_needs_the_csrf_token(panel: Panel) -> None:
    browser = panel.signed_in("viewer")
    assert browser.post("/logout", csrf=False).status_code == 403
    assert browser.post("/logout", {"csrf_token": "forged"}, csrf=False).status_code == 403
    assert browser.get("/").headers["location"] == "/devices"  # still signed in
    assert browser.post("/logout").status_code == 303  # a viewer may sign out
    assert browser.get("/").headers["location"] == "/login"


@pytest.mark.parametrize(
    ("role", "change", "admin_change"),
    [("viewer", 403, 403), ("editor", 204, 403), ("admin", 204, 204)],
)
def test_roles_are_enforced_on_every_change(
    routes: Panel, role: Role, change: int, admin_change: int
) -> None:
    browser = routes.signed_in(role)
    assert browser.get("/panel/test-change").status_code == 200  # every role reads
    assert browser.post("/panel/test-change").status_code == change
    assert browser.post("/panel/test-admin").status_code == admin_change


def test_without_a_session_a_read_goes_to_sign_in_and_a_change_gets_401(routes: Panel) -> None:
    browser = routes.browser()
    read = browser.get("/panel/test-change", query_string="a=1")
    assert read.status_code == 303
    assert read.headers["location"] == "/login?next=%2Fpanel%2Ftest-change%3Fa%3D1"
    change = browser.post("/panel/test-change", {"csrf_token": "x"}, csrf=False)
    assert change.status_code == 401
    assert change.headers["content-type"].startswith("text/html")
    htmx = browser.get("/panel/test-change", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/login?next=%2Fpanel%2Ftest-change"


def test_a_session_of_one_tenant_never_yields_another(routes: Panel) -> None:
    tenant_a, _ = routes.tenant("a")
    tenant_b, _ = routes.tenant("b")
    routes.user(tenant_a, "sam@chain.example", "editor", password="password of tenant a")
    routes.user(tenant_b, "sam@chain.example", "editor", password="password of tenant b")
    in_a = routes.browser()
    in_a.sign_in("sam@chain.example", "password of tenant a")
    in_b = routes.browser()
    in_b.sign_in("sam@chain.example", "password of tenant b")
    assert in_a.director is not None and in_a.director.tenant_id == tenant_a
    assert in_b.director is not None and in_b.director.tenant_id == tenant_b
    assert in_a.get("/panel/test-change").text == f"tenant={tenant_a}"
    assert in_b.get("/panel/test-change").text == f"tenant={tenant_b}"


@pytest.fixture
def short_sessions(settings_env: dict[str, str], clock: Clock) -> Iterator[Panel]:
    for api in make_panel_api(settings_env, clock, session_idle_s=600, session_max_s=3600):
        yield Panel(api, clock)


def test_a_session_ends_when_idle(short_sessions: Panel) -> None:
    panel, clock = short_sessions, short_sessions.clock
    browser = panel.signed_in("editor")
    clock.advance(599)
    assert browser.get("/").headers["location"] == "/devices"  # slides the idle expiry
    clock.advance(599)
    assert browser.get("/").headers["location"] == "/devices"
    clock.advance(601)
    assert browser.get("/").headers["location"] == "/login"
    assert browser.get("/").headers["location"] == "/login"  # and it stays ended


def test_a_session_ends_at_its_lifetime_however_busy(short_sessions: Panel) -> None:
    panel, clock = short_sessions, short_sessions.clock
    browser = panel.signed_in("editor")
    for _ in range(7):
        clock.advance(500)
        assert browser.get("/").headers["location"] == "/devices"
    clock.advance(100)  # 3600 s after sign-in
    assert browser.get("/").headers["location"] == "/login"


def test_a_password_reset_ends_the_accounts_sessions(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    other = panel.user(tenant_id, "vi@shop.example", "viewer")
    first, second, bystander = panel.browser(), panel.browser("198.51.100.7"), panel.browser()
    first.sign_in("ed@shop.example")
    second.sign_in("ed@shop.example")
    bystander.sign_in(other.email)
    _, ended = accounts.reset_password(
        panel.db, CHEAP_PASSWORDS, "ED@shop.example", "a brand new password", now=panel.clock.now()
    )
    assert ended == 2
    assert first.get("/").headers["location"] == "/login"
    assert second.get("/").headers["location"] == "/login"
    assert bystander.get("/").headers["location"] == "/devices"
    assert panel.browser().sign_in("ed@shop.example", PASSWORD).status_code == 401
    assert panel.browser().sign_in("ed@shop.example", "a brand new password").status_code == 303


def test_the_database_keeps_no_session_token(panel: Panel, api: Api) -> None:
    from sqlalchemy import text

    browser = panel.signed_in("editor")
    with api.db.read() as s:
        stored = s.execute(text("SELECT id FROM panel_sessions")).scalars().all()
    assert browser.cookies["lomuz_session"] not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


class _Broken:
    auth = "session"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("secret detail of a bug")


def test_a_bug_on_a_panel_page_is_an_html_500_that_tells_nothing(
    panel: Panel, caplog: pytest.LogCaptureFixture
) -> None:
    panel.api.app.add_route("/panel/test-broken", _Broken())
    browser = panel.signed_in("viewer")
    broken = browser.get("/panel/test-broken")
    assert broken.status_code == 500
    assert broken.headers["content-type"].startswith("text/html")
    assert "secret detail" not in broken.text
    assert "Something went wrong on the server" in broken.text
    assert "secret detail of a bug" in caplog.text  # logged whole for the operator
    not_allowed = browser.get("/logout")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["content-type"].startswith("text/html")


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(panel: Panel) -> None:
    from sqlalchemy import text

    browser = panel.signed_in("editor")
    assert browser.director is not None
    with panel.db.write() as s:
        s.execute(text("UPDATE director_users SET disabled = :yes"), {"yes": True})
    assert browser.get("/").headers["location"] == "/login"
    again = panel.browser().sign_in(browser.director.email)
    assert again.status_code == 403 and "This account is disabled." in again.text
