"""Panel fixtures: the ``api`` app with cheap password hashes and a settable clock,
a director account, and a signed-in browser-like client.

    def test_something(panel: Panel) -> None:
        browser = panel.signed_in(role="editor")        # a new tenant, user, session
        page = browser.get("/devices")                    # cookie sent for you
        done = browser.post("/devices/x/rename", {"name": "Front"})  # + csrf_token
        assert browser.director.tenant_id == ...

``panel.user(tenant_id, email, role)`` adds an account; ``panel.browser()`` is a
client with no session (``browser.sign_in(email, password)`` uses the real form).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import argon2
import pytest

from control_api.alerting import Poster
from control_api.app import create_app
from control_api.panel.director import Director, Role
from control_api.passwords import Passwords
from control_api.services import accounts
from control_api.settings import load_settings
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.conftest import Api
from tests.control_api.openapi_check import CheckedClient

PASSWORD = "correct horse battery"
# argon2id at its cheapest: the default profile costs ~0.2 s of a core per check.
CHEAP_PASSWORDS = Passwords(
    argon2.Parameters(
        type=argon2.Type.ID,
        version=19,
        salt_len=16,
        hash_len=16,
        time_cost=1,
        memory_cost=8,
        parallelism=1,
    )
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class Clock:
    """The app's ``now``: real time at the start, moved by hand."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Browser:
    """A falcon test client that keeps cookies and sends the page's CSRF token."""

    api: Api
    remote_addr: str = "192.0.2.10"
    cookies: dict[str, str] = field(default_factory=dict)
    director: Director | None = None
    csrf_token: str = ""

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        kw.setdefault("remote_addr", self.remote_addr)
        result = self.api.client.simulate_request(method, path, headers=headers, **kw)
        for name, cookie in result.cookies.items():
            if cookie.value and (cookie.max_age is None or cookie.max_age > 0):
                self.cookies[name] = cookie.value
            else:
                self.cookies.pop(name, None)
        return result

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(
        self, path: str, form: dict[str, str] | None = None, *, csrf: bool = True, **kw: Any
    ) -> Any:
        """A form post with the session's CSRF token (``csrf=False``: without it)."""
        fields = dict(form or {})
        if csrf:
            fields.setdefault("csrf_token", self.csrf_token)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kw.pop("headers", {})}
        return self.request("POST", path, body=urlencode(fields), headers=headers, **kw)

    def sign_in(self, email: str, password: str = PASSWORD, next_path: str | None = None) -> Any:
        """Through the real form: GET /login (its CSRF cookie and field), then POST it.
        Signed in, ``director`` and ``csrf_token`` are the session's."""
        page = self.get("/login" if next_path is None else f"/login?next={quote(next_path)}")
        found = _CSRF.search(page.text)
        assert found is not None, page.text
        form = {"email": email, "password": password, "csrf_token": found.group(1)}
        if next_path is not None:
            form["next"] = next_path
        result = self.post("/login", form, csrf=False)
        token = self.cookies.get("lomuz_session")
        if result.status_code == 303 and token is not None:
            director = accounts.session_director(
                self.api.db,
                token,
                accounts.SessionLimits(10**9, 10**9),
                now=self.api.app.deps.now(),  # type: ignore[attr-defined]
            )
            assert director is not None
            self.director = director
            self.csrf_token = director.csrf_token
        return result


@dataclass
class Panel:
    api: Api
    clock: Clock

    @property
    def db(self) -> Database:
        return self.api.db

    def tenant(self, name: str = "shop") -> tuple[str, str]:
        """A new tenant: (tenant_id, admin_token)."""
        with self.db.write() as s:
            return repo.create_tenant(s, name, datetime.now(UTC))

    def user(
        self,
        tenant_id: str,
        email: str = "ed@shop.example",
        role: Role = "editor",
        password: str = PASSWORD,
    ) -> accounts.UserSummary:
        return accounts.add_user(
            self.db,
            CHEAP_PASSWORDS,
            tenant_id=tenant_id,
            email=email,
            role=role,
            password=password,
            now=self.clock.now(),
        )

    def browser(self, remote_addr: str = "192.0.2.10") -> Browser:
        return Browser(self.api, remote_addr)

    def signed_in(
        self, role: Role = "editor", tenant_id: str | None = None, email: str | None = None
    ) -> Browser:
        """A browser signed in (through /login) as a new user of ``tenant_id`` (or a new tenant)."""
        tenant_id = tenant_id if tenant_id is not None else self.tenant()[0]
        email = email if email is not None else f"{role}@{tenant_id}.example"
        self.user(tenant_id, email, role)
        browser = self.browser()
        result = browser.sign_in(email)
        assert result.status_code == 303, result.text
        return browser


def make_panel_api(
    env: dict[str, str], clock: Clock, *, webhook_poster: Poster | None = None, **overrides: Any
) -> Iterator[Api]:
    settings = replace(load_settings(env), **overrides)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(
        settings, now=clock.now, passwords=CHEAP_PASSWORDS, webhook_poster=webhook_poster
    )
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(settings_env: dict[str, str], clock: Clock) -> Iterator[Api]:
    """The parent's ``api``, with cheap password hashes and ``clock`` as its ``now``."""
    yield from make_panel_api(settings_env, clock)


@pytest.fixture
def panel(api: Api, clock: Clock) -> Panel:
    return Panel(api, clock)
