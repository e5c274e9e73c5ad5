#!/usr/bin/env python3
"""Screenshots of every panel page at 1280 and 390 px wide, into docs/panel/.

Seeds a demo tenant in a throwaway SQLite database (a director, devices, one
of them enrolled and reporting so it shows online), serves it with
``lomuz-control serve`` on loopback, and photographs each page in Debian's
Chromium (``/usr/bin/chromium``) through Playwright.

    python scripts/panel_screenshots.py [--out docs/panel]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CONTROL = [sys.executable, "-m", "control_api.cli"]
WIDTHS = {1280: 800, 390: 844}  # width -> window height
EMAIL = "director@demo-shops.test"
PASSWORD = "demo password, not a secret"
TIMEOUT_MS = 15_000


@dataclass
class Demo:
    url: str
    admin_token: str
    device_ids: dict[str, str]


def control(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*CONTROL, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"lomuz-control {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def served(env: dict[str, str]) -> Iterator[str]:
    """``lomuz-control serve`` on a loopback port; yields its base URL, stops it after."""
    proc = subprocess.Popen(
        [*CONTROL, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            found = re.search(r"serving on (http://\S+)", line)
            if found:
                break
        else:
            sys.exit(f"lomuz-control serve exited with {proc.wait()}")
        # The server keeps logging: drain stderr so it never blocks on a full pipe.
        drain = threading.Thread(target=proc.stderr.read, daemon=True)
        drain.start()
        try:
            yield found.group(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            drain.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def seed(url: str, admin_token: str) -> dict[str, str]:
    """Devices of a small chain; the first enrolled and reporting (online)."""
    names = ["Main Street till", "Harbour café", "Station kiosk"]
    groups = [["north", "tills"], ["south"], ["north"]]
    admin = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    )
    ids: dict[str, str] = {}
    with admin:
        for name, group in zip(names, groups, strict=True):
            made = admin.post(
                "/v1/devices", json={"name": name, "timezone": "Europe/Paris", "groups": group}
            )
            made.raise_for_status()
            device = made.json()
            ids[name] = device["id"]
            if name == names[0]:
                enrolled = httpx.post(
                    f"{url}/v1/enroll",
                    json={"enrollment_code": device["enrollment_code"]},
                    timeout=30,
                )
                enrolled.raise_for_status()
                token = enrolled.json()["device_token"]
                httpx.post(
                    f"{url}/v1/device/telemetry",
                    json={"now_playing": {"title": "Morning mix"}, "volume": 70},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                ).raise_for_status()
    return ids


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def new_code(page: Page) -> None:
    page.get_by_role("button", name="New enrollment code").click()
    page.get_by_role("img", name=re.compile("QR", re.IGNORECASE)).wait_for()


# name -> (path, signed in, what to do on the page before the shot)
Shot = tuple[Callable[[Demo], str], bool, Callable[[Page], None] | None]
SHOTS: dict[str, Shot] = {
    "login": (lambda demo: "/login", False, None),
    "devices": (lambda demo: "/devices", True, None),
    "device": (lambda demo: f"/devices/{demo.device_ids['Main Street till']}", True, None),
    "enrollment": (lambda demo: f"/devices/{demo.device_ids['Station kiosk']}", True, new_code),
}


def photograph(demo: Demo, out: Path, only: list[str]) -> list[Path]:
    written: list[Path] = []
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            for width, height in WIDTHS.items():
                context = browser.new_context(
                    viewport={"width": width, "height": height}, base_url=demo.url
                )
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                signed_in = False
                for name in only:
                    path, needs_session, prepare = SHOTS[name]
                    if needs_session and not signed_in:
                        sign_in(page)
                        signed_in = True
                    if not needs_session and signed_in:
                        context.clear_cookies()
                        signed_in = False
                    page.goto(path(demo))
                    if prepare is not None:
                        prepare(page)
                    target = out / f"{name}-{width}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                context.close()
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "panel")
    parser.add_argument("--pages", nargs="*", choices=sorted(SHOTS), default=list(SHOTS))
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lomuz-shots-") as scratch:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")},
            "LOMUZ_CONTROL_ENV": "",
            "LOMUZ_DATABASE_URL": f"sqlite:///{scratch}/control.db",
            "LOMUZ_MEDIA_DIR": f"{scratch}/media",
            "PYTHONPATH": str(REPO),
        }
        control(env, "db", "upgrade")
        tenant = json.loads(control(env, "tenant", "create", "Demo shops", "--json"))
        control(
            env,
            *("user", "add", EMAIL, "--tenant", tenant["tenant_id"]),
            *("--role", "admin", "--password-stdin"),
            stdin=f"{PASSWORD}\n",
        )
        with served(env) as url:
            ids = seed(url, tenant["admin_token"])
            demo = Demo(url, tenant["admin_token"], ids)
            for path in photograph(demo, options.out, options.pages):
                size_kb = path.stat().st_size // 1024
                print(f"{path.relative_to(REPO)}: {size_kb} KB")


if __name__ == "__main__":
    main()
