"""What a director does over HTTP, run by the boot tests inside the box's network namespace.

    python -m tests.ops.boot_director URL TOKEN COMMAND [ARGS]

Commands print JSON on stdout:
- ``wait-healthy`` waits up to 60 s for ``/healthz``;
- ``setup TONE`` uploads the tone, builds a playlist of it, schedules it to
  every device, creates a device and prints its ids and enrollment code;
- ``plays`` prints the plays the API has;
- ``hits N`` sends N requests to ``/healthz``;
- ``metrics TOKEN`` prints the body of ``/metrics``, scraped with the server's
  metrics token (the content of its /etc/lomuz/metrics.token), as Prometheus does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx


def main(argv: list[str]) -> int:
    url, token, command, *args = argv
    headers = {"Authorization": f"Bearer {token}"} if token != "-" else {}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        if command == "wait-healthy":
            deadline = time.monotonic() + 60
            while True:
                try:
                    if api.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    print(json.dumps({"healthy": False}))
                    return 1
                time.sleep(0.5)
            print(json.dumps({"healthy": True}))
        elif command == "setup":
            tone = Path(args[0])
            asset = api.post(
                "/v1/assets",
                content=tone.read_bytes(),
                params={"filename": tone.name, "title": "Boot tone"},
                headers={"Content-Type": "audio/wav"},
            )
            asset.raise_for_status()
            playlist = api.post(
                "/v1/playlists",
                json={"name": "Shop hours", "items": [{"asset_id": asset.json()["id"]}]},
            )
            playlist.raise_for_status()
            schedule = api.post(
                "/v1/schedules",
                json={"playlist_id": playlist.json()["id"], "target": {"all": True}},
            )
            schedule.raise_for_status()
            device = api.post("/v1/devices", json={"name": "Shop 1", "timezone": "UTC"})
            device.raise_for_status()
            print(
                json.dumps(
                    {
                        "asset_id": asset.json()["id"],
                        "playlist_id": playlist.json()["id"],
                        "device_id": device.json()["id"],
                        "enrollment_code": device.json()["enrollment_code"],
                    }
                )
            )
        elif command == "plays":
            answer = api.get("/v1/plays", params={"limit": 1000})
            answer.raise_for_status()
            print(json.dumps(answer.json()["items"]))
        elif command == "hits":
            for _ in range(int(args[0])):
                api.get("/healthz").raise_for_status()
            print(json.dumps({"sent": int(args[0])}))
        elif command == "metrics":
            answer = api.get("/metrics", headers={"Authorization": f"Bearer {args[0]}"})
            answer.raise_for_status()
            sys.stdout.write(answer.text)
        else:
            print(f"unknown command {command}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
