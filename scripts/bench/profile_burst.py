"""Profile a push nudge's burst in process: what one shared delta answer costs the API.

    .venv/bin/python scripts/bench/profile_burst.py [--devices 2000] [--database-url URL]

Seeds like bench_api.py (2,000 assets, ``--devices`` devices, PostgreSQL by
default), builds the app with ``create_app`` from the environment (so
``LOMUZ_TOKEN_CACHE_S`` / ``LOMUZ_LAST_SEEN_WRITE_S`` apply), gives every device
its full manifest, changes one asset in the view (``PATCH /v1/assets/{id}``),
then asks as a nudged player does (``since=`` the old cursor, ``Cache-Control:
no-cache``): half the devices timed (CPU from ``time.thread_time``: this
thread only, the last_seen flusher excluded), the other half under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import database, seed, wsgi_call  # noqa: E402

from control_api.app import create_app  # noqa: E402
from control_api.settings import load_settings  # noqa: E402

NO_CACHE = {"HTTP_CACHE_CONTROL": "no-cache"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--devices", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url) as url:
        seeded = seed(url, 2000, args.devices)
        settings = load_settings(
            {**os.environ, "LOMUZ_DATABASE_URL": url, "LOMUZ_MEDIA_DIR": str(Path(tmp) / "m")}
        )
        app = create_app(settings)
        try:
            tokens = seeded["tokens"]
            cursors = {}
            for token in tokens:
                status, body = wsgi_call(app, "GET", "/v1/device/manifest", "", token)
                assert status.startswith("200"), status
                cursors[token] = json.loads(body)["cursor"]
            change = json.dumps({"title": "changed"}).encode()
            path = f"/v1/assets/{seeded['asset_in_view']}"
            status, _ = wsgi_call(app, "PATCH", path, "", seeded["admin"], body=change)
            assert status.startswith("200"), status

            def burst(part: list[str]) -> None:
                for token in part:
                    query = f"since={cursors[token]}"
                    status, _ = wsgi_call(
                        app, "GET", "/v1/device/manifest", query, token, headers=NO_CACHE
                    )
                    assert status.startswith("200"), status

            half = len(tokens) // 2
            wall, cpu = time.perf_counter(), time.thread_time()
            burst(tokens[:half])
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            print(
                f"{half} shared delta answers: {half / wall:.0f}/s in one thread, "
                f"{wall / half * 1e6:.0f} us wall and {cpu / half * 1e6:.0f} us CPU each"
            )
            profiler = cProfile.Profile()
            profiler.enable()
            burst(tokens[half:])
            profiler.disable()
        finally:
            app.close()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
