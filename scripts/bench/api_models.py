"""The control API's JSON path, in process (no HTTP server, no document check): the
cached 304 poll, full and delta manifests, the manifest encoder alone, and a schedule
body's validation. Issue 11: msgspec models for validation, encoding and the document.

Usage: .venv/bin/python scripts/bench/api_models.py [--assets N] [--requests N] [--tree DIR]

``--tree`` measures another checkout (e.g. the commit before the models) with this
same script: it imports ``control_api`` from DIR. SQLite in a temp dir; one
tenant, N assets in 20 playlists, 10 schedules, one device that sees them all.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1000, samples[max(0, int(len(samples) * 0.95) - 1)] * 1000


class _Encoder:
    """The tree's own way from a Snapshot to the body's bytes, in its two steps."""

    def __init__(self, wire: Any) -> None:
        if hasattr(wire, "manifest_json"):  # before: dicts, Falcon's JSON handler (stdlib)
            self.name = "dicts + json.dumps"
            self.build: Callable[[Any], Any] = lambda snap: wire.manifest_json(snap, 600)
            self.serialise: Callable[[Any], bytes] = lambda body: json.dumps(
                body, ensure_ascii=False
            ).encode()
        else:
            from control_api import http

            self.name = "structs + msgspec"
            self.build = lambda snap: wire.manifest(snap, 600)
            self.serialise = http.encode_json

    def encode(self, snap: Any) -> bytes:
        return self.serialise(self.build(snap))


def _measure(
    api: Any, args: argparse.Namespace, encoder: _Encoder
) -> tuple[list[tuple[str, tuple[float, float]]], str]:
    import falcon.testing

    from control_api.resources import bodies
    from control_api.services import manifest as manifest_service
    from tests.control_api.media_samples import wav

    captured: list[Any] = []
    poll = manifest_service.poll

    def capturing_poll(*a: Any, **k: Any) -> Any:
        result = poll(*a, **k)
        captured.append(result)
        return result

    admin = api.tenant()
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
    plain = falcon.testing.TestClient(api.app)  # no document check in the timing
    auth = {"Authorization": f"Bearer {token}"}
    manifest_service.poll = capturing_poll
    full = plain.simulate_get("/v1/device/manifest", headers=auth)
    manifest_service.poll = poll
    snapshot = captured[-1]
    cursor = full.json["cursor"]

    def get(since: str | None) -> None:
        params = {"since": since} if since else None
        plain.simulate_get("/v1/device/manifest", headers=auth, params=params)

    not_modified = _timed(lambda: get(cursor), args.requests)
    full_t = _timed(lambda: get(None), max(10, args.requests // 20))
    reps = max(20, args.requests // 10)
    encode_t = _timed(lambda: encoder.encode(snapshot), reps)
    build_t = _timed(lambda: encoder.build(snapshot), reps)
    built = encoder.build(snapshot)
    serialise_t = _timed(lambda: encoder.serialise(built), reps)
    api.call("PATCH", f"/v1/assets/{ids[0]}", admin, json={"title": "x"})
    delta = _timed(lambda: get(cursor), max(10, args.requests // 10))
    body = {
        "playlist_id": playlists[0],
        "target": {"group": "north"},
        "days": [1, 2, 3, 4, 5],
        "start_time": "08:00",
        "end_time": "20:00",
        "valid_from": "2026-12-01T00:00:00Z",
        "priority": 3,
    }
    validate = _timed(lambda: bodies.schedule(body), args.requests)
    summary = (
        f"tree={args.tree} assets={args.assets} in-view={len(full.json['assets'])} "
        f"full manifest={len(full.content) / 1024:.0f} KiB at {datetime.now(UTC):%H:%M:%S}Z"
    )
    rows = [
        ("304 (cached)", not_modified),
        ("delta (1 change)", delta),
        ("full", full_t),
        (f"encode full: {encoder.name}", encode_t),
        ("  of which: build the objects", build_t),
        ("  of which: serialise to JSON", serialise_t),
        ("validate a schedule body", validate),
    ]
    return rows, summary


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))

    from control_api import wire
    from tests.control_api.conftest import make_api

    encoder = _Encoder(wire)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"LOMUZ_DATABASE_URL": f"sqlite:///{tmp}/c.db", "LOMUZ_MEDIA_DIR": f"{tmp}/m"}
        for api in make_api(env):
            rows, summary = _measure(api, args, encoder)
    print(summary)
    for name, (p50, p95) in rows:
        print(f"{name:36s} p50 {p50:8.3f} ms   p95 {p95:8.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
