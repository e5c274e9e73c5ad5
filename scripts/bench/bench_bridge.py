"""The ASGI entry point's cost on the hot path, in process (no sockets, no server).

    .venv/bin/python scripts/bench/bench_bridge.py [--requests 5000] [--rounds 3]

Seeds like bench_api.py, builds the app with create_app and answers cached 304
manifest polls (a) called directly as WSGI, as granian's WSGI interface calls
it, and (b) through control_api.wsgi_bridge on an asyncio loop, the way
granian's ASGI interface calls it, with 1 and 32 requests in flight. Prints
this process's CPU time per poll (all threads), alternating the ways each
round, so the bridge's own cost is the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import database, seed, wsgi_get  # noqa: E402

from control_api.app import create_app  # noqa: E402
from control_api.core.body_deadline import BodyReadPolicy  # noqa: E402
from control_api.settings import load_settings  # noqa: E402
from control_api.wsgi_bridge import WsgiOverAsgi  # noqa: E402

MANIFEST = "/v1/device/manifest"


def wsgi_call(app: Any, query: str, token: str) -> tuple[str, bytes]:
    return wsgi_get(app, MANIFEST, query, token)


def scope(query: str, token: str) -> dict[str, Any]:
    return {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": MANIFEST, "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
    }  # fmt: skip


def cpu_per_request_us(run: Callable[[], None], requests: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a throwaway PostgreSQL schema")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url) as url:
        seeded = seed(url, 2000, 200)
        settings = load_settings(
            {**os.environ, "LOMUZ_DATABASE_URL": url, "LOMUZ_MEDIA_DIR": str(Path(tmp) / "m")}
        )
        app = create_app(settings)
        bridge = WsgiOverAsgi(
            app, threads=settings.http_threads, body_policy=BodyReadPolicy(),
            buffer_bytes=settings.max_json_bytes,
        )  # fmt: skip
        tokens = seeded["tokens"][:100]
        queries = {}
        for t in tokens:
            status, body = wsgi_call(app, "", t)
            assert status.startswith("200"), status
            queries[t] = f"since={json.loads(body)['cursor']}"
            assert wsgi_call(app, queries[t], t)[0].startswith("304")  # warms the token cache
        polls = [
            (queries[tokens[i % len(tokens)]], tokens[i % len(tokens)])
            for i in range(args.requests)
        ]

        def direct() -> None:
            for query, token in polls:
                wsgi_call(app, query, token)

        def bridged(in_flight: int) -> Callable[[], None]:
            async def client(share: list[tuple[str, str]]) -> None:
                statuses: list[int] = []

                async def receive() -> dict[str, Any]:
                    raise AssertionError("a GET has no body to receive")

                async def send(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        statuses.append(message["status"])

                for query, token in share:
                    await bridge(scope(query, token), receive, send)
                assert set(statuses) == {304}, set(statuses)

            async def all_clients() -> None:
                await asyncio.gather(*(client(polls[i::in_flight]) for i in range(in_flight)))

            return lambda: asyncio.run(all_clients())

        ways = {"WSGI, direct": direct, "bridge, 1 in flight": bridged(1),
                "bridge, 32 in flight": bridged(32)}  # fmt: skip
        results: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, run in ways.items():
                results[name].append(cpu_per_request_us(run, args.requests))
        for name, figures in results.items():
            print(f"{name}: CPU per cached 304 poll {min(figures):.0f}-{max(figures):.0f} us "
                  f"({args.requests} polls x {args.rounds} rounds)")  # fmt: skip
        bridge.close()
        app.deps.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
