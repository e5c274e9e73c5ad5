"""Sign-in throttling as a shop sees it, and hostile input at the form."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.core import login_throttle as throttle
from control_api.errors import BadCredentials, RateLimited
from control_api.services import accounts
from tests.control_api.panel.conftest import CHEAP_PASSWORDS, PASSWORD, Panel

SHOP_NAT = "203.0.113.5"


def _fail(panel: Panel, email: str, address: str, times: int) -> None:
    for _ in range(times):
        assert panel.browser(address).sign_in(email, "a wrong password").status_code == 401


def test_failures_slow_that_account_from_that_address_only(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    panel.user(tenant_id, "al@shop.example")
    _fail(panel, "ed@shop.example", SHOP_NAT, throttle.PAIR.free_failures + 1)
    slowed = panel.browser(SHOP_NAT).sign_in("ed@shop.example")  # even the right password
    assert slowed.status_code == 429
    assert int(slowed.headers["retry-after"]) >= 1
    assert "lomuz_session" not in slowed.cookies
    assert "Too many failed sign-ins for this account" in slowed.text
    # Another director behind the same NAT, and the same one from elsewhere, sign in.
    assert panel.browser(SHOP_NAT).sign_in("al@shop.example").status_code == 303
    assert panel.browser("198.51.100.20").sign_in("ed@shop.example").status_code == 303


def test_the_delay_passes(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    _fail(panel, "ed@shop.example", SHOP_NAT, throttle.PAIR.free_failures + 1)
    assert panel.browser(SHOP_NAT).sign_in("ed@shop.example").status_code == 429
    panel.clock.advance(throttle.delay_s(throttle.PAIR.free_failures + 1, throttle.PAIR))
    assert panel.browser(SHOP_NAT).sign_in("ed@shop.example").status_code == 303


def test_guesses_spread_over_many_addresses_slow_the_account(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    for n in range(throttle.ACCOUNT.free_failures + 1):
        _fail(panel, "ed@shop.example", f"10.0.{n // 250}.{n % 250}", 1)
    assert panel.browser("198.51.100.20").sign_in("ed@shop.example").status_code == 429
    panel.clock.advance(throttle.ACCOUNT.max_delay_s)
    assert panel.browser("198.51.100.20").sign_in("ed@shop.example").status_code == 303


def test_a_success_clears_the_count(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    _fail(panel, "ed@shop.example", SHOP_NAT, throttle.PAIR.free_failures)
    assert panel.browser(SHOP_NAT).sign_in("ed@shop.example").status_code == 303
    _fail(panel, "ed@shop.example", SHOP_NAT, throttle.PAIR.free_failures)
    assert panel.browser(SHOP_NAT).sign_in("ed@shop.example").status_code == 303


def test_hostile_sign_in_input_never_fails_the_server_or_signs_in(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    emails = st.one_of(st.just("ed@shop.example"), st.text(max_size=300))

    @settings(max_examples=80, deadline=None)
    @given(email=emails, password=st.text(max_size=300), address=st.integers(0, 9))
    def sign_in(email: str, password: str, address: int) -> None:
        browser = panel.browser(f"192.0.2.{address}")
        page = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert token is not None
        form = {"email": email, "password": password, "csrf_token": token.group(1), "next": email}
        result = browser.post("/login", form, csrf=False)
        assert result.status_code in (401, 429), result.text
        assert "lomuz_session" not in browser.cookies

    sign_in()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(max_size=500), content_type=st.sampled_from(
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]
))  # fmt: skip
def test_a_hostile_login_body_never_fails_the_server(
    panel: Panel, body: bytes, content_type: str
) -> None:
    browser = panel.browser()
    browser.get("/login")
    result = browser.request("POST", "/login", body=body, headers={"Content-Type": content_type})
    assert result.status_code in (400, 401, 403, 413, 429), result.text
    assert "lomuz_session" not in browser.cookies


def test_the_right_password_of_a_user_still_works_after_hostile_input(panel: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    browser = panel.browser()
    browser.get("/login")
    hostile = browser.request(
        "POST",
        "/login",
        body=b"email=ed%40shop.example%00&password=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert hostile.status_code in (400, 403)
    assert browser.sign_in("ed@shop.example", PASSWORD).status_code == 303


def test_parallel_guesses_cannot_all_pass_the_check(panel: Panel) -> None:
    """Each attempt is counted in the transaction that checks the count, so guesses
    sent at once (several workers, several threads) get no more checks than in turn."""
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    limits = accounts.SessionLimits(3600, 7200)

    def guess(n: int) -> str:
        try:
            accounts.sign_in(
                panel.db,
                CHEAP_PASSWORDS,
                email="ed@shop.example",
                password=f"wrong password {n}",
                address=SHOP_NAT,
                limits=limits,
                now=panel.clock.now(),
            )
        except BadCredentials:
            return "checked"
        except RateLimited:
            return "refused"
        return "signed in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(24)))
    assert outcomes.count("checked") == throttle.PAIR.free_failures + 1
    assert outcomes.count("refused") == 24 - throttle.PAIR.free_failures - 1
