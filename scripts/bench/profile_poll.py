"""Profile the manifest 304 path in-process (no server, no sockets): where does a poll go?

    .venv/bin/python scripts/bench/profile_poll.py [--requests 3000] [--database-url URL]

Seeds like bench_api.py (smaller catalogue: the 304 path does not read it),
builds the app with create_app, calls it as a WSGI callable under cProfile and
prints the top functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import database, seed, wsgi_get  # noqa: E402

from control_api.app import create_app  # noqa: E402
from control_api.settings import load_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url) as url:
        seeded = seed(url, 2000, 200)
        settings = load_settings(
            {**os.environ, "LOMUZ_DATABASE_URL": url, "LOMUZ_MEDIA_DIR": str(Path(tmp) / "m")}
        )
        app = create_app(settings)
        tokens = seeded["tokens"][:100]

        def call(path: str, query: str, token: str) -> tuple[str, bytes]:
            return wsgi_get(app, path, query, token)

        cursors = {}
        for t in tokens:
            status, body = call("/v1/device/manifest", "", t)
            assert status.startswith("200"), status
            cursors[t] = __import__("json").loads(body)["cursor"]
        for t in tokens:  # warm the token cache
            assert call("/v1/device/manifest", f"since={cursors[t]}", t)[0].startswith("304")

        started = time.perf_counter()
        for i in range(args.requests):
            t = tokens[i % len(tokens)]
            call("/v1/device/manifest", f"since={cursors[t]}", t)
        plain_s = time.perf_counter() - started
        print(
            f"unprofiled: {args.requests / plain_s:.0f} polls/s in one thread "
            f"({plain_s / args.requests * 1e6:.0f} us each)"
        )

        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.requests):
            t = tokens[i % len(tokens)]
            call("/v1/device/manifest", f"since={cursors[t]}", t)
        profiler.disable()
        app.deps.db.dispose()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
