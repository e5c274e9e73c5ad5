"""``lomuz-control`` as a real process: tenant create, serve on a loopback port, bad config.

The other commands, the env file and the privilege drop: tests/control_api/cli/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.control_api.media_samples import wav

CLI = [sys.executable, "-m", "control_api.cli"]


def _env(settings_env: dict[str, str]) -> dict[str, str]:
    # LOMUZ_CONTROL_ENV empty: an installed /etc/lomuz/control.env stays out of it.
    return {**os.environ, **settings_env, "LOMUZ_CONTROL_ENV": ""}


def test_bad_configuration_exits_78(settings_env: dict[str, str]) -> None:
    env = {**_env(settings_env), "LOMUZ_MAX_UPLOAD_BYTES": "lots"}
    done = subprocess.run(
        [*CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 78
    assert "LOMUZ_MAX_UPLOAD_BYTES" in done.stderr


@pytest.fixture
def server(settings_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = _env(settings_env)
    created = subprocess.run(
        [*CLI, "tenant", "create", "Shop", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    admin = json.loads(created.stdout)["admin_token"]
    proc = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    drain = threading.Thread(target=lambda: None)
    try:
        base = ""
        for line in proc.stderr:
            found = re.search(r"serving on (http://\S+)", line)
            if found:
                base = found.group(1)
                break
        assert base, "server did not start"
        drain = threading.Thread(target=proc.stderr.read, daemon=True)
        drain.start()
        yield base, admin
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        if drain.is_alive():
            drain.join(timeout=5)
        proc.stderr.close()
    assert code == 0


def test_served_api_round_trip(server: tuple[str, str]) -> None:
    base, admin = server
    auth = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        asset = client.post(
            "/v1/assets",
            params={"emergency": "true"},
            content=wav(b"a" * 5000),
            headers={**auth, "Content-Type": "audio/wav"},
        ).json()
        device = client.post("/v1/devices", json={"name": "b"}, headers=auth).json()
        enrolled = client.post(
            "/v1/enroll", json={"enrollment_code": device["enrollment_code"]}
        ).json()
        dev_auth = {"Authorization": f"Bearer {enrolled['device_token']}"}
        manifest = client.get("/v1/device/manifest", headers=dev_auth)
        assert manifest.status_code == 200
        assert [a["id"] for a in manifest.json()["assets"]] == [asset["id"]]
        etag = manifest.headers["etag"]
        again = client.get("/v1/device/manifest", headers={**dev_auth, "If-None-Match": etag})
        assert again.status_code == 304
        media = client.get(
            asset_url := manifest.json()["assets"][0]["url"],
            headers={**dev_auth, "Range": "bytes=0-9"},
        )
        assert media.status_code == 206 and media.content == wav(b"a" * 5000)[:10], asset_url
        missing = client.get("/v1/nothing")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
