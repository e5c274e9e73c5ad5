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
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CONTROL = [sys.executable, "-m", "control_api.cli"]
WIDTHS = {1280: 800, 390: 844}  # width -> window height
EMAIL = "director@demo-shops.test"
PASSWORD = "demo password, not a secret"
COLLEAGUES = (("music@demo-shops.test", "editor"), ("area.manager@demo-shops.test", "viewer"))
TIMEOUT_MS = 15_000
MAX_HEIGHT_PX = 1600
# The device page's week grid is text-dense: cut sooner to keep the PNG under the cap.
HEIGHT_PX = {"device": 1400}
MAX_SIZE_BYTES = 200_000


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


def tone(seed_value: int, duration_ms: int = 2000) -> bytes:
    """A short mono WAV of noise (distinct bytes per ``seed_value``)."""
    rate = 8000
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(random.Random(seed_value).randbytes(rate * duration_ms // 1000 * 2))
    return out.getvalue()


def instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(url: str, admin_token: str) -> dict[str, str]:
    """A small chain: tracks in a playlist scheduled to the north group, three
    devices; the first enrolled, reporting what it plays, with recent plays, an
    override for the next hour and a snapshot it answered."""
    admin = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    )
    with admin:
        assets = []
        for number, title in enumerate(["Morning mix", "Store jingle", "Spring offers"]):
            made = admin.post(
                "/v1/assets",
                params={"filename": f"{title.lower().replace(' ', '-')}.wav", "title": title},
                content=tone(number),
                headers={"Content-Type": "audio/wav"},
            )
            made.raise_for_status()
            assets.append(made.json())
        items = [{"asset_id": a["id"]} for a in assets]
        playlist = admin.post("/v1/playlists", json={"name": "Weekday mornings", "items": items})
        playlist.raise_for_status()
        admin.post(
            "/v1/schedules",
            json={
                "playlist_id": playlist.json()["id"],
                "target": {"group": "north"},
                "days": [1, 2, 3, 4, 5],
                "start_time": "08:00",
                "end_time": "13:00",
            },
        ).raise_for_status()
        ids: dict[str, str] = {}
        token = ""  # the enrolled till's
        devices = [("Main Street till", ["north", "tills"]), ("Harbour café", ["south"])]
        devices.append(("Station kiosk", ["north"]))
        for name, groups in devices:
            made = admin.post(
                "/v1/devices", json={"name": name, "timezone": "Europe/Paris", "groups": groups}
            )
            made.raise_for_status()
            ids[name] = made.json()["id"]
            if name == "Main Street till":
                token = report(url, made.json()["enrollment_code"], assets, playlist.json()["id"])
        offers = admin.post(
            "/v1/playlists",
            json={"name": "Spring offers", "items": [{"asset_id": assets[2]["id"]}]},
        )
        offers.raise_for_status()
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        target = {"device_id": ids["Main Street till"]}
        body = {"playlist_id": offers.json()["id"], "target": target, "until": instant(until)}
        admin.post("/v1/overrides", json=body).raise_for_status()
        snapshot(admin, token, ids["Main Street till"], assets[2])
    return ids


def snapshot(admin: httpx.Client, device_token: str, device_id: str, asset: dict[str, Any]) -> None:
    """A Snapshot sent to the device, answered as lomuz-player answers it."""
    sent = admin.post(f"/v1/devices/{device_id}/commands", json={"type": "snapshot"})
    sent.raise_for_status()
    result = {
        "state": "playing",
        "item": {"asset_id": asset["id"], "title": asset["title"]},
        "tier": "override",
        "volume": 70,
    }
    httpx.post(
        f"{admin.base_url}/v1/device/commands/{sent.json()['id']}",
        json={"state": "done", "result": result},
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=30,
    ).raise_for_status()


def report(url: str, code: str, assets: list[dict[str, Any]], playlist_id: str) -> str:
    """Enroll as a box does, then send its telemetry and a few plays; its token."""
    enrolled = httpx.post(
        f"{url}/v1/enroll", json={"enrollment_code": code, "hardware": {"model": "Pi 4"}}
    )
    enrolled.raise_for_status()
    box = httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {enrolled.json()['device_token']}"},
        timeout=30,
    )
    now = datetime.now(UTC).replace(microsecond=0)
    with box:
        box.get("/v1/device/manifest").raise_for_status()
        status = {
            "at": instant(now),
            "now_playing": {"state": "playing", "tier": "playlist", "asset_id": assets[0]["id"]},
            "last_sync_ok_at": instant(now - timedelta(seconds=40)),
            "downloads": {"pending": 0, "failing": []},
            "cache": {"size_bytes": 48_200_000, "files": 3},
            "clock": {"trusted": True, "offset_s": 0.02},
            "system": {"disk_percent": 31, "temperature_c": 52.4},
            "versions": {"player": "0.1.0"},
            "push": {"state": "connected"},
        }
        box.post("/v1/device/telemetry", json=status).raise_for_status()
        plays = []
        for minutes_ago, asset in zip((9, 6, 3), assets, strict=True):
            started = now - timedelta(minutes=minutes_ago)
            plays.append(
                {
                    "id": str(uuid.uuid4()),
                    "asset_id": asset["id"],
                    "sha256": asset["sha256"],
                    "started_at": instant(started),
                    "ended_at": instant(started + timedelta(minutes=3)),
                    "source": "playlist",
                    "outcome": "completed",
                    "playlist_id": playlist_id,
                }
            )
        box.post("/v1/device/plays", json={"plays": plays}).raise_for_status()
        box.post("/v1/device/plays", json={"plays": past_week(now, assets)}).raise_for_status()
    return str(enrolled.json()["device_token"])


def past_week(now: datetime, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A week of plays before today (the Plays page's chart), a few dozen a day."""
    shuffled = random.Random(12)
    midnight = now.replace(hour=0, minute=0, second=0)
    plays = []
    for days_ago in range(1, 7):
        for n in range(shuffled.randrange(20, 60)):
            started = midnight - timedelta(days=days_ago) + timedelta(minutes=9 * 60 + 7 * n)
            asset = assets[shuffled.randrange(len(assets)) if n % 3 else 0]
            plays.append({
                "id": str(uuid.uuid4()), "asset_id": asset["id"], "sha256": asset["sha256"],
                "started_at": instant(started), "ended_at": instant(started + timedelta(minutes=3)),
                "source": "playlist", "outcome": "completed",
            })  # fmt: skip
    return plays


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def new_code(page: Page) -> None:
    page.get_by_role("button", name="New enrollment code").click()
    page.get_by_role("img", name=re.compile("QR", re.IGNORECASE)).wait_for()


def add_device_refused(page: Page) -> None:
    """The Add device form after a typo in the time zone: the error next to the field."""
    page.get_by_text("Add device", exact=True).first.click()
    page.get_by_label("Device name").fill("Back office")
    page.get_by_label("Time zone").fill("Europe/Berln")
    page.get_by_label("Groups").fill("south, office")
    page.get_by_role("button", name="Add device").click()
    page.locator("#add-timezone-error").wait_for()
    page.locator("#add-device").scroll_into_view_if_needed()


def uploads(page: Page) -> None:
    """A re-upload of a seeded track and a file that is not media: the rows they leave."""
    files = [
        {"name": "morning-mix.wav", "mimeType": "audio/wav", "buffer": tone(0)},
        {"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"shopping list, not audio"},
    ]
    page.get_by_label("Choose files…").set_input_files(files)  # type: ignore[arg-type]
    page.locator('[data-upload-list] li[data-state="error"]').wait_for()
    page.locator('[data-upload-list] li[data-state="existing"]').wait_for()


def asset_in_use(page: Page) -> None:
    """A track's page after "Delete…": the playlist that still uses it is named."""
    page.get_by_role("link", name="Morning mix").click()
    page.get_by_role("button", name="Delete…").click()
    page.locator("ul.used-by").wait_for()


def open_playlist(page: Page) -> None:
    page.get_by_role("link", name="Weekday mornings").click()
    page.get_by_role("heading", name="Weekday mornings").wait_for()


# name -> (path, signed in, what to do on the page before the shot)
Shot = tuple[Callable[[Demo], str], bool, Callable[[Page], None] | None]
SHOTS: dict[str, Shot] = {
    "login": (lambda demo: "/login", False, None),
    "devices": (lambda demo: "/devices", True, None),
    "device-add": (lambda demo: "/devices", True, add_device_refused),
    "device": (lambda demo: f"/devices/{demo.device_ids['Main Street till']}", True, None),
    "enrollment": (lambda demo: f"/devices/{demo.device_ids['Station kiosk']}", True, new_code),
    "users": (lambda demo: "/users", True, None),
    "schedules": (lambda demo: "/schedules", True, None),
    "schedules-week": (lambda demo: "/schedules/week?group=north", True, None),
    "media": (lambda demo: "/media", True, uploads),
    "media-asset": (lambda demo: "/media", True, asset_in_use),
    "playlists": (lambda demo: "/playlists", True, None),
    "playlist": (lambda demo: "/playlists", True, open_playlist),
    "plays": (lambda demo: "/plays", True, None),
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
                    # The whole page down to a cap: the week table would make a
                    # device page's PNG several hundred KB.
                    tall_px = page.evaluate("() => document.documentElement.scrollHeight")
                    clip = {
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": min(tall_px, HEIGHT_PX.get(name, MAX_HEIGHT_PX)),
                    }
                    page.screenshot(path=str(target), full_page=True, clip=clip)  # type: ignore[arg-type]
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
        for email, role in ((EMAIL, "admin"), *COLLEAGUES):
            control(
                env,
                *("user", "add", email, "--tenant", tenant["tenant_id"]),
                *("--role", role, "--password-stdin"),
                stdin=f"{PASSWORD}\n",
            )
        with served(env) as url:
            ids = seed(url, tenant["admin_token"])
            demo = Demo(url, tenant["admin_token"], ids)
            too_big = []
            for path in photograph(demo, options.out, options.pages):
                size_bytes = path.stat().st_size
                print(f"{path.relative_to(REPO)}: {size_bytes // 1024} KB")
                if size_bytes > MAX_SIZE_BYTES:
                    too_big.append(path.name)
            if too_big:
                sys.exit(f"over {MAX_SIZE_BYTES // 1000} KB: {', '.join(too_big)}")


if __name__ == "__main__":
    main()
