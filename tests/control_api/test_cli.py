"""``lomuz-control`` as a real process: tenant create, serve on a loopback port, bad config.

The other commands, the env file and the privilege drop: tests/control_api/cli/.
"""

from __future__ import annotations

import subprocess

import httpx

from tests.control_api.conftest import CLI, cli_env
from tests.control_api.media_samples import wav


def test_bad_configuration_exits_78(settings_env: dict[str, str]) -> None:
    env = {**cli_env(settings_env), "LOMUZ_MAX_UPLOAD_BYTES": "lots"}
    done = subprocess.run(
        [*CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 78
    assert "LOMUZ_MAX_UPLOAD_BYTES" in done.stderr


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
