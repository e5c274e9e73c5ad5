"""Manifest cost on the control API, in process (no HTTP server): 304, delta, full.

Usage: .venv/bin/python scripts/bench/control_manifest.py [--assets N] [--requests N]
SQLite in a temp dir; one tenant, N assets in 20 playlists, 10 schedules, one device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.control_api.conftest import Api, make_api
from tests.control_api.media_samples import wav


def _timed(fn, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(len(samples) * 0.95) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"LOMUZ_DATABASE_URL": f"sqlite:///{tmp}/c.db", "LOMUZ_MEDIA_DIR": f"{tmp}/m"}
        for api in make_api(env):
            admin = api.tenant()
            # The API keeps only real media (it decides by content): distinct tiny WAVs.
            uploads = [api.upload(admin, wav(f"asset {i}".encode())) for i in range(args.assets)]
            ids = [u.json["id"] for u in uploads]
            per = max(1, len(ids) // 20)
            playlists = [
                api.call(
                    "POST",
                    "/v1/playlists",
                    admin,
                    json={
                        "name": f"p{i}",
                        "items": [{"asset_id": x} for x in ids[i * per : (i + 1) * per]],
                    },
                ).json["id"]
                for i in range(20)
            ]
            for i in range(10):
                api.call(
                    "POST",
                    "/v1/schedules",
                    admin,
                    json={"playlist_id": playlists[i], "target": {"all": True}, "priority": i},
                )
            _, token = api.device(admin)
            full = api.call("GET", "/v1/device/manifest", token)
            cursor = full.json["cursor"]
            size_kib = len(full.content) / 1024

            def get(since: str | None, api: Api = api, token: str = token) -> None:
                params = {"since": since} if since else None
                api.call("GET", "/v1/device/manifest", token, params=params)

            not_modified = _timed(lambda c=cursor: get(c), args.requests)
            full_t = _timed(lambda: get(None), max(10, args.requests // 10))
            api.call("PATCH", f"/v1/assets/{ids[0]}", admin, json={"title": "x"})
            delta = _timed(lambda c=cursor: get(c), args.requests)
            # The encoder's share of "full": Falcon's JSON handler (what resp.media
            # uses) against msgspec on the same body, measured only (issue 11).
            body = full.json
            stdlib_encode = _timed(lambda b=body: json.dumps(b, ensure_ascii=False).encode(), 50)
            msgspec_encode = _timed(lambda b=body: msgspec.json.encode(b), 50)
    print(
        f"assets={args.assets} in-view assets={len(full.json['assets'])} "
        f"full manifest={size_kib:.0f} KiB"
    )
    for name, (p50, p95) in (("304", not_modified), ("delta (1 change)", delta), ("full", full_t)):
        print(f"{name:18s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    for name, (p50, p95) in (
        ("encode full: json", stdlib_encode),
        ("encode full: msgspec", msgspec_encode),
    ):
        print(f"{name:22s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
