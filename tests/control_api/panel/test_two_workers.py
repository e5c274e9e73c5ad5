"""Two API processes on one database (two workers): either serves any director."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_api.core import login_throttle as throttle
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import Clock, Panel, make_panel_api


@pytest.fixture
def second(settings_env: dict[str, str], clock: Clock, api: Api) -> Iterator[Panel]:
    for other in make_panel_api(settings_env, clock):  # the same database as ``api``
        yield Panel(other, clock)


def test_a_session_made_by_one_worker_serves_on_the_other(panel: Panel, second: Panel) -> None:
    browser = panel.signed_in("editor")
    on_second = second.browser()
    on_second.cookies = dict(browser.cookies)
    assert on_second.get("/").headers["location"] == "/devices"
    on_second.csrf_token = browser.csrf_token
    assert on_second.post("/logout").status_code == 303
    assert browser.get("/").headers["location"] == "/login"  # ended for the first too


def test_failures_on_both_workers_add_up(panel: Panel, second: Panel) -> None:
    tenant_id, _ = panel.tenant()
    panel.user(tenant_id, "ed@shop.example")
    for n in range(throttle.PAIR.free_failures + 1):
        worker = panel if n % 2 else second
        assert worker.browser().sign_in("ed@shop.example", "wrong password").status_code == 401
    assert panel.browser().sign_in("ed@shop.example").status_code == 429
    assert second.browser().sign_in("ed@shop.example").status_code == 429
