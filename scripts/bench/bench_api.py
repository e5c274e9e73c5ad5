"""Control API benchmark: manifest 304 polls per second, and delta vs full snapshot.

Seeds a catalogue directly in the database (default 50,000 assets, 1,000
enrolled devices), serves the app with the production server (granian and/or
gunicorn, 2 workers each), and drives load from another process on loopback:
``wrk`` when installed (apt: wrk), else the small Python client in loadgen.py.
Everything is bounded and stops by itself.

    .venv/bin/python scripts/bench/bench_api.py                 # PostgreSQL, both servers
    .venv/bin/python scripts/bench/bench_api.py --server granian --duration-s 10
    .venv/bin/python scripts/bench/bench_api.py --database-url sqlite:////tmp/bench.db
    .venv/bin/python scripts/bench/bench_api.py --endurance-s 600 --server granian

``--endurance-s`` runs scripts/fleet_sim.py (default 5,000 devices) against the
server instead and samples the workers' RSS every 30 s (memory must stay flat).

The default database is a throwaway schema in postgresql://postgres@127.0.0.1/test
(dropped at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, insert, text, update

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import run_load  # noqa: E402

from control_api.store import models as m  # noqa: E402
from control_api.store import repository as repo  # noqa: E402
from control_api.store.db import Database  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VENV_BIN = Path(sys.executable).parent
GROUPS = [f"region-{i}" for i in range(10)]
PLAYLIST_SIZE = 500
# "granian" is what the unit runs (the ASGI bridge with body deadlines, issue 10);
# "granian-wsgi" is granian's own WSGI interface, for comparison.
GRANIAN_ENTRY_POINTS = {
    "granian": (["--interface", "asgi", "--loop", "uvloop"], "control_api.asgi:create"),
    "granian-wsgi": (["--interface", "wsgi"], "control_api.wsgi:create"),
}
SERVER_KINDS = [*GRANIAN_ENTRY_POINTS, "gunicorn"]


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh database URL: a throwaway PostgreSQL schema unless a URL is given."""
    if url:
        yield url
        return
    schema = f"bench_{secrets.token_hex(4)}"
    engine = create_engine(PG_DEFAULT)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_DEFAULT}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def seed(url: str, n_assets: int, n_devices: int) -> dict[str, Any]:
    """Bulk-insert the catalogue; returns tokens and ids the load needs."""
    db = Database(url)
    db.upgrade()
    now = datetime.now(UTC)
    started = time.perf_counter()
    with db.write() as s:
        tenant_id, admin_token = repo.create_tenant(s, "bench", now)
    asset_ids = [f"ast_{i:08d}" for i in range(n_assets)]
    rows = [
        {
            "id": asset_ids[i],
            "tenant_id": tenant_id,
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "size_bytes": 3_000_000 + i,
            "media_type": "audio",
            "content_type": "audio/mpeg",
            "filename": f"track-{i}.mp3",
            "title": f"Track {i}",
            "duration_ms": 180_000,
            "valid_from": None,
            "valid_until": None,
            "emergency": i < 20,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n_assets)
    ]
    n_playlists = max(1, n_assets // PLAYLIST_SIZE)
    playlists = [
        {
            "id": f"pl_{p:05d}",
            "tenant_id": tenant_id,
            "name": f"Playlist {p}",
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for p in range(n_playlists)
    ]
    items = [
        {
            "playlist_id": f"pl_{i // PLAYLIST_SIZE:05d}",
            "position": i % PLAYLIST_SIZE,
            "asset_id": asset_ids[i],
            "duration_ms": None,
        }
        for i in range(n_playlists * PLAYLIST_SIZE)
    ]
    # Each device sees 2 "all" schedules and 1 of its group: ~1,500 assets in its view.
    schedules = []
    for k, (kind, value) in enumerate([("all", "")] * 2 + [("group", g) for g in GROUPS]):
        schedules.append(
            {
                "id": f"sch_{k:05d}",
                "tenant_id": tenant_id,
                "playlist_id": f"pl_{k % n_playlists:05d}",
                "target_kind": kind,
                "target_value": value,
                "priority": k,
                "days": [1, 2, 3, 4, 5, 6, 7],
                "start_time": "00:00",
                "end_time": "24:00",
                "valid_from": None,
                "valid_until": None,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    tokens = [secrets.token_urlsafe(32) for _ in range(n_devices)]
    devices = [
        {
            "id": f"dev_{d:06d}",
            "tenant_id": tenant_id,
            "name": f"Shop {d}",
            "timezone": "Europe/Paris",
            "groups": [GROUPS[d % len(GROUPS)]],
            "token_hash": repo.hash_secret(tokens[d]),
            "code_hash": None,
            "code_expires_at": None,
            "last_seen_at": None,
            "status": None,
            "hardware": None,
            "created_at": now,
            "updated_at": now,
        }
        for d in range(n_devices)
    ]
    with db.write() as s:
        for table, data in (
            (m.Asset, rows),
            (m.Playlist, playlists),
            (m.PlaylistItem, items),
            (m.Schedule, schedules),
            (m.Device, devices),
        ):
            for start in range(0, len(data), 5000):
                s.execute(insert(table), data[start : start + 5000])
        s.execute(update(m.Tenant).where(m.Tenant.id == tenant_id).values(revision=1))
    db.dispose()
    print(
        f"seeded {n_assets} assets, {n_playlists} playlists, {len(schedules)} schedules, "
        f"{n_devices} devices in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return {"admin": admin_token, "tokens": tokens, "asset_in_view": asset_ids[0]}


def wsgi_get(app: Any, path: str, query: str, token: str) -> tuple[str, bytes]:
    """GET ``path`` from a WSGI ``app`` in process, as a WSGI server calls it."""
    return wsgi_call(app, "GET", path, query, token)


def wsgi_call(
    app: Any,
    method: str,
    path: str,
    query: str,
    token: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    """A request to a WSGI ``app`` in process; ``headers`` as WSGI keys (``HTTP_...``)."""
    status: list[str] = []

    def start_response(s: str, headers: Any, exc_info: Any = None) -> None:
        status.append(s)

    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json", **(headers or {}),
    }  # fmt: skip
    answer = b"".join(app(environ, start_response))
    return status[0], answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(
    kind: str, url: str, workers: int, workdir: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    prom = workdir / f"prom-{kind}"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    env = {
        **os.environ,
        "LOMUZ_DATABASE_URL": url,
        "LOMUZ_MEDIA_DIR": str(workdir / "media"),
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "PYTHONPATH": str(REPO),
    }
    if kind in GRANIAN_ENTRY_POINTS:
        interface, factory = GRANIAN_ENTRY_POINTS[kind]
        cmd = [
            str(VENV_BIN / "granian"), *interface, "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--no-ws", "--log-level", "warning", factory,
        ]  # fmt: skip
    elif kind == "gunicorn":
        cmd = [
            str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30",
            "--log-level", "warning", "control_api.wsgi:create()",
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown server {kind!r}")
    log = open(workdir / f"{kind}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start; see {workdir / (kind + '.log')}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def timed_get(client: httpx.Client, url: str, token: str, n: int) -> tuple[float, int, Any]:
    """Median wall time (ms) of n GETs, the body size of the last, and its JSON."""
    times = []
    resp = None
    for _ in range(n):
        t0 = time.perf_counter()
        resp = client.get(url, headers={"Authorization": f"Bearer {token}"})
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, resp.text[:300]
    assert resp is not None
    return statistics.median(times), len(resp.content), resp.json()


def bench_server(
    kind: str, url: str, seeded: dict[str, Any], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    tokens: list[str] = seeded["tokens"][: args.poll_devices]
    result: dict[str, Any] = {"server": kind, "workers": args.workers}
    with (
        serve(kind, url, args.workers, workdir) as (base, proc),
        httpx.Client(timeout=60) as client,
    ):
        manifest_url = f"{base}/v1/device/manifest"
        full_ms, full_bytes, full = timed_get(client, manifest_url, tokens[0], 5)
        cursor = full["cursor"]
        result["full"] = {
            "median_ms": round(full_ms, 1),
            "bytes": full_bytes,
            "assets": len(full["assets"]),
        }
        # Cursors of the polling devices (same scope per group: fetch each once).
        cursors = {}
        for token in tokens:
            r = client.get(manifest_url, headers={"Authorization": f"Bearer {token}"})
            cursors[token] = r.json()["cursor"]
        requests = [
            (f"/v1/device/manifest?since={cursors[t]}", {"Authorization": f"Bearer {t}"})
            for t in tokens
        ]
        check = client.get(f"{base}{requests[0][0]}", headers=requests[0][1])
        assert check.status_code == 304, check.status_code
        cpu_before_s = server_cpu_s(proc.pid)
        load = run_load(base, requests, args.duration_s, args.connections, expect_status=304)
        polls = load["rps"] * args.duration_s
        load["server_cpu_us_per_poll"] = round(
            (server_cpu_s(proc.pid) - cpu_before_s) / max(polls, 1) * 1e6
        )
        result["poll_304"] = load

        # One change in the view: the next poll with the old cursor is a one-asset delta.
        patched = client.patch(
            f"{base}/v1/assets/{seeded['asset_in_view']}",
            headers={"Authorization": f"Bearer {seeded['admin']}"},
            json={"title": f"Renamed {kind}"},
        )
        assert patched.status_code == 200, patched.text
        delta_ms, delta_bytes, delta = timed_get(
            client, f"{manifest_url}?since={cursor}", tokens[0], 20
        )
        assert delta["full"] is False, delta
        assert len(delta["assets"]) == 1, delta
        result["delta"] = {"median_ms": round(delta_ms, 1), "bytes": delta_bytes}
    return result


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server and its workers so far."""
    root = psutil.Process(pid)
    total_s = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total_s += times.user + times.system
    return total_s


def worker_rss_mib(pid: int) -> list[float]:
    """RSS of the server's worker processes (its children), in MiB."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            out.append(round(child.memory_info().rss / 2**20, 1))
    return sorted(out)


def endurance(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """fleet_sim against one server for ``--endurance-s``, RSS sampled every 30 s."""
    samples: list[dict[str, Any]] = []
    with database(args.database_url) as url:
        migrator = Database(url)
        migrator.upgrade()
        migrator.dispose()
        with serve(kind, url, args.workers, workdir) as (base, proc):
            stop = threading.Event()
            started = time.monotonic()

            def sample() -> None:
                while True:
                    samples.append(
                        {
                            "t_s": round(time.monotonic() - started),
                            "rss_mib": worker_rss_mib(proc.pid),
                        }
                    )
                    if stop.wait(30):
                        return

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            cmd = [
                sys.executable, str(REPO / "scripts" / "fleet_sim.py"), "--api", base,
                "--database-url", url, "--devices", str(args.fleet_devices),
                "--duration-s", str(args.endurance_s), "--speedup", str(args.fleet_speedup),
                "--concurrency", str(args.connections), "--json",
            ]  # fmt: skip
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=args.endurance_s + 900, check=False
                )
            finally:
                stop.set()
                sampler.join(timeout=5)
            samples.append(
                {"t_s": round(time.monotonic() - started), "rss_mib": worker_rss_mib(proc.pid)}
            )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {"unparsed_stdout": done.stdout[-2000:]}
    return {
        "server": kind,
        "workers": args.workers,
        "command": " ".join(cmd[1:]),
        "exit_status": done.returncode,
        "stderr_tail": done.stderr[-2000:],
        "rss_samples": samples,
        "fleet": report,
    }


def server_kinds(choice: str) -> list[str]:
    return {"both": ["granian", "gunicorn"], "all": SERVER_KINDS}.get(choice, [choice])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a throwaway PostgreSQL schema")
    parser.add_argument(
        "--server", choices=[*SERVER_KINDS, "both", "all"], default="both",
        help="both: granian (the unit's) and gunicorn; all: every kind",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=1_000)
    parser.add_argument("--poll-devices", type=int, default=200, help="tokens used by the load")
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--endurance-s", type=float, help="run fleet_sim this long instead")
    parser.add_argument("--fleet-devices", type=int, default=5_000)
    parser.add_argument("--fleet-speedup", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.endurance_s is not None:
        if not 10 <= args.endurance_s <= 3600:
            parser.error("--endurance-s must be between 10 and 3600")
        kinds = server_kinds(args.server)
        with tempfile.TemporaryDirectory(prefix="lomuz-endurance-") as tmp:
            reports = [endurance(kind, args, Path(tmp)) for kind in kinds]
        print(json.dumps(reports, indent=2))
        return 0 if all(r["exit_status"] == 0 for r in reports) else 1
    if not 1 <= args.duration_s <= 120:
        parser.error("--duration-s must be between 1 and 120")

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    servers = server_kinds(args.server)
    results = []
    with tempfile.TemporaryDirectory(prefix="lomuz-bench-") as tmp:
        for kind in servers:
            with database(args.database_url) as url:
                seeded = seed(url, args.assets, args.devices)
                results.append(bench_server(kind, url, seeded, args, Path(tmp)))
            r = results[-1]
            print(
                f"{kind} x{args.workers}: 304 polls {r['poll_304']['rps']:.0f}/s "
                f"(p50 {r['poll_304']['p50_ms']} ms, p99 {r['poll_304']['p99_ms']} ms, "
                f"errors {r['poll_304']['errors']}, by {r['poll_304']['driver']}, "
                f"server CPU {r['poll_304']['server_cpu_us_per_poll']} us/poll); "
                f"full {r['full']['bytes']} B ({r['full']['assets']} assets) "
                f"in {r['full']['median_ms']} ms; "
                f"one-change delta {r['delta']['bytes']} B in {r['delta']['median_ms']} ms",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
