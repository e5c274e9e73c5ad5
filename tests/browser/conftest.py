"""Fixtures for the panel in a real browser: Debian's Chromium driven by Playwright.

Playwright (pyproject's dev pin) drives the system's ``/usr/bin/chromium``
(package ``chromium``; scripts/bootstrap installs it): nothing is downloaded at
run time. Without it the tests skip with the reason; in CI (``CI=true`` or
``LOMUZ_CI=1``) they fail instead.

Each test gets its own ``lomuz-control serve`` on loopback (SQLite under
``tmp_path``, the e2e suite's ``ApiServer``), always stopped at teardown, a
tenant "Shop A" with an admin director, and a fresh browser context per page
(no cookie shared between tests). ``page`` is a 1280x800 desktop window,
``phone_page`` a 390x844 phone; ``player`` a real ``lomuz-player`` on the
null backend (the e2e suite's ``PlayerProcess``), killed at teardown.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.e2e.conftest import BIN, ApiServer, PlayerProcess

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Every wait on the page (a click, an expect) is bounded well inside the test's timeout.
ACTION_TIMEOUT_MS = 10_000
PASSWORD = "correct horse battery staple"


def in_ci() -> bool:
    return os.environ.get("LOMUZ_CI") == "1" or os.environ.get("CI", "").lower() in ("1", "true")


def chromium_path() -> Path:
    """Debian's Chromium; skip when absent, fail in CI (scripts/bootstrap installs it there)."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing (apt-get install chromium; scripts/bootstrap does)"
    if in_ci():
        pytest.fail(f"{message}: CI needs it")
    pytest.skip(message)


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium from ``/usr/bin/chromium``; its sandbox refuses to run as root."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(
        executable_path=str(chromium_path()), headless=True, args=args
    )


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    role: str
    tenant_id: str


class Panel:
    """The API's process seen from the panel: its URL, its tenants, its directors."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.tenant = api.create_tenant("Shop A")
        self.admin = self.add_director("admin@shop-a.test", "admin")

    @property
    def url(self) -> str:
        return self.api.url

    def add_director(
        self, email: str, role: str, *, tenant_id: str | None = None, password: str = PASSWORD
    ) -> Account:
        """``lomuz-control user add EMAIL --tenant ID --role ROLE --password-stdin``."""
        tenant = tenant_id or self.tenant["tenant_id"]
        command = ["user", "add", email, "--tenant", tenant, "--role", role, "--password-stdin"]
        done = subprocess.run(
            [str(BIN / "lomuz-control"), *command],
            env=self.api.env,
            input=f"{password}\n".encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return Account(email, password, role, tenant)

    def add_device(self, name: str, *, groups: tuple[str, ...] = (), admin_token: str = "") -> Any:
        """``POST /v1/devices`` with the tenant's admin token: the Device, with its code."""
        token = admin_token or self.tenant["admin_token"]
        made = httpx.post(
            f"{self.url}/v1/devices",
            json={"name": name, "timezone": "UTC", "groups": list(groups)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        return made.json()

    def sign_in(self, page: Page, account: Account) -> None:
        """Through the form, as a director does (PROTOCOL's labels)."""
        page.goto("/login")
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(account.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)


# Package scope: one Chromium for this directory, closed before the rest of the suite runs.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    chromium_path()
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path / "api")
    # An installed /etc/lomuz/control.env stays out of it.
    server.env["LOMUZ_CONTROL_ENV"] = ""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def panel(api: ApiServer) -> Panel:
    return Panel(api)


@pytest.fixture
def player(tmp_path: Path) -> Iterator[PlayerProcess]:
    """A ``lomuz-player`` data dir on the null backend (the e2e suite's); killed at teardown."""
    made = PlayerProcess(tmp_path / "p")  # short: the control socket lives in its data dir
    try:
        yield made
    finally:
        made.close()


def _context(browser: Browser, base_url: str, viewport: dict[str, int]) -> BrowserContext:
    context = browser.new_context(viewport=viewport, base_url=base_url)  # type: ignore[arg-type]
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser: Browser, api: ApiServer) -> Iterator[Page]:
    """A 1280x800 window on the API's origin (relative URLs work)."""
    context = _context(browser, api.url, DESKTOP)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone_page(browser: Browser, api: ApiServer) -> Iterator[Page]:
    """A 390x844 phone window on the API's origin."""
    context = _context(browser, api.url, PHONE)
    try:
        yield context.new_page()
    finally:
        context.close()
