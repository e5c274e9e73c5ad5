"""Push at fleet scale: a change -> N MQTT devices hold the new cursor (issue 13; measurement).

Usage: .venv/bin/python scripts/bench/bench_fleet_push.py [--devices 5000] [--changes 3]
       [--jitter-s 3] [--workers 2] [--json]

Starts its own Mosquitto on a free loopback port, a fresh PostgreSQL database
(``lomuz_fleet_<pid>`` on ``--postgres``'s server, dropped at the end) and the
control API under granian as the packaged unit runs it (``--workers``), with
``LOMUZ_MQTT_URL`` on that broker. A tenant (``lomuz-control tenant create``),
one asset, a playlist and a schedule for all devices; ``--devices`` devices
created and enrolled through the API (``POST /v1/devices`` + ``POST
/v1/enroll``, concurrently), each synced once (its first full manifest), then
all connected and subscribed (``scripts/bench/fleet_push.py``). Each change
edits the schedule's priority (``PUT /v1/schedules/{id}``); its latency per
device is from the PUT's answer to the manifest answer that gave the device a
cursor of a later revision (the nudge fan-out, the broker, the player's
jitter 0..``--jitter-s``, the ``since=`` request). Changes are spaced past the
player's ``min_interval_s`` and after the previous one settled.

Reports per change p50/p90/p99/max, how many devices missed 15 s, the peak of
manifest requests per second (client side, and server side from /metrics
sampled each second), and the broker's, the API's and the simulator's RSS
and CPU. Everything is bounded by ``--deadline-s``; every process it started
is ended. Exit 0 when every change reached 99 % of the devices within 15 s
with no request failing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet_stack  # noqa: E402
from fleet_push import Credentials, PushFleet, per_second_counts, percentile  # noqa: E402
from fleet_sim import create_tenant, noise_wav  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_S = 15.0
TARGET_SHARE = 0.99
MANIFEST_ROUTE = 'route="/v1/device/manifest"'
SHARED = "lomuz_manifests_shared_total{"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--devices", type=int, default=5000)
    p.add_argument("--changes", type=int, default=3)
    p.add_argument("--jitter-s", type=float, default=3.0, help="the player's [push] jitter_s")
    p.add_argument(
        "--min-interval-s", type=float, default=10.0, help="the player's [push] min_interval_s"
    )
    p.add_argument("--workers", type=int, default=2, help="granian workers (the unit's: 2)")
    p.add_argument("--http-connections", type=int, default=256, help="the simulator's HTTP pool")
    p.add_argument("--enroll-concurrency", type=int, default=32)
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument(
        "--first-syncs", type=int, default=200,
        help="devices that fetch their first full manifest (the rest take its cursor)",
    )  # fmt: skip
    p.add_argument("--settle-s", type=float, default=45.0, help="longest wait for one change")
    p.add_argument("--deadline-s", type=float, default=1200.0, help="the whole run's bound")
    p.add_argument("--postgres", default=os.environ.get("LOMUZ_TEST_POSTGRES_URL", PG_DEFAULT))
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.devices < 1 or args.changes < 1 or args.workers < 1:
        p.error("--devices, --changes and --workers must be at least 1")
    return args


T0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f} s] {message}", file=sys.stderr, flush=True)


async def _bounded_wait(
    what: str, done: Callable[[], bool], timeout_s: float, why: Callable[[], str] = str
) -> float:
    """Waits until ``done()``; the seconds it took. RuntimeError naming ``what`` at the timeout."""
    started = next_note = time.monotonic()
    while not done():
        now = time.monotonic()
        if now - started > timeout_s:
            raise RuntimeError(f"{what}: not done within {timeout_s:.0f} s {why()}")
        if now >= next_note + 10:
            next_note = now
            progress(f"waiting for {what} for {now - started:.0f} s {why()}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def _ok(call: Awaitable[httpx.Response], what: str) -> dict[str, Any]:
    response = await call
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


async def setup_content(admin: httpx.AsyncClient) -> tuple[str, str]:
    """One asset, a playlist of it and a schedule for all devices: (playlist id, schedule id)."""
    nonce = uuid.uuid4().hex[:8]
    asset = await _ok(
        admin.post(
            "/v1/assets",
            content=noise_wav(os.urandom(16_000)),
            headers={"Content-Type": "audio/wav"},
            params={"filename": f"fleet-{nonce}.wav", "title": "fleet"},
            timeout=60,
        ),
        "asset upload",
    )
    playlist = await _ok(
        admin.post("/v1/playlists", json={"name": "fleet", "items": [{"asset_id": asset["id"]}]}),
        "playlist",
    )
    body = {"playlist_id": playlist["id"], "target": {"all": True}}
    schedule = await _ok(admin.post("/v1/schedules", json=body), "schedule")
    return playlist["id"], schedule["id"]


async def enroll(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, count: int, concurrency: int
) -> list[Credentials]:
    """Creates (``admin``) and enrolls (``anonymous``) ``count`` devices through the API."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Credentials:
        async with sem:
            body = {"name": f"fleet-{i:05d}", "timezone": "Europe/Paris", "groups": ["fleet"]}
            created = await _ok(admin.post("/v1/devices", json=body), "device creation")
            code = {"enrollment_code": created["enrollment_code"], "hardware": {"model": "sim"}}
            enrolled = await _ok(anonymous.post("/v1/enroll", json=code), "enrollment")
            return Credentials(enrolled["device_id"], enrolled["device_token"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def manifest_requests_served(
    admin: httpx.AsyncClient, token: str, series: str = "lomuz_http_requests_total{"
) -> float | None:
    """The API's count of answered manifest requests (all workers), from /metrics;
    with ``series="lomuz_manifests_shared_total{"``, those answered with a scope's plan."""
    try:
        response = await admin.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    total = 0.0
    for line in response.text.splitlines():
        if line.startswith(series) and (MANIFEST_ROUTE in line or "manifests_shared" in series):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Sampling:
    """Each second: the processes' RSS (peaks kept) and the server's manifest count."""

    def __init__(self, admin: httpx.AsyncClient, api: fleet_stack.ApiServer, broker_pid: int):
        self._admin = admin
        self._token = api.metrics_token
        self.samplers = {
            "broker": fleet_stack.ProcessSampler(broker_pid),
            "api": fleet_stack.ProcessSampler(api.pid),
            # this process alone: the broker and the API are its children
            "simulator": fleet_stack.ProcessSampler(os.getpid(), children=False),
        }
        self.served: list[tuple[float, float]] = []  # (monotonic, manifests served so far)

    def memory(self) -> dict[str, int]:
        return {f"{name}_rss_kb": s.rss_kb() for name, s in self.samplers.items()}

    def cpu(self) -> dict[str, float]:
        return {name: s.cpu_s() for name, s in self.samplers.items()}

    async def run(self) -> None:
        while True:
            self.memory()
            count = await manifest_requests_served(self._admin, self._token)
            if count is not None:
                self.served.append((time.monotonic(), count))
            await asyncio.sleep(1.0)

    def peak_served_per_s(self, start: float, end: float) -> float | None:
        points = [(t, c) for t, c in self.served if start - 1.5 <= t <= end + 1.5]
        pairs = itertools.pairwise(points)
        rates = [(c2 - c1) / (t2 - t1) for (t1, c1), (t2, c2) in pairs if t2 > t1]
        return round(max(rates), 1) if rates else None


def _seconds(values: list[float], p: float) -> float | None:
    value = percentile(values, p)
    return None if value is None else round(value, 3)


async def one_change(
    n: int, fleet: PushFleet, admin: httpx.AsyncClient, schedule: dict[str, Any], args: Any
) -> tuple[dict[str, Any], float, float]:
    """Makes change ``n``; its figures, and the instants it started and settled."""
    baseline = fleet.held_revision()
    started_requests = len(fleet.counters.manifest_started_at)
    errors_before = fleet.counters.http_errors
    sent_at = time.monotonic()
    body = {"playlist_id": schedule["playlist_id"], "target": {"all": True}, "priority": n + 1}
    await _ok(admin.put(f"/v1/schedules/{schedule['id']}", json=body), "the change (PUT)")
    changed_at = time.monotonic()
    devices = fleet.devices

    def settled() -> bool:
        return all((d.revision or 0) > baseline for d in devices)

    def waiting() -> str:
        return f"({sum(1 for d in devices if (d.revision or 0) > baseline)} hold it)"

    with contextlib.suppress(RuntimeError):  # the devices that never got it are counted below
        await _bounded_wait("settle", settled, args.settle_s, waiting)
    settled_at = time.monotonic()
    held = sorted(
        at - changed_at for d in devices if (at := d.first_after(d.cursors_held, baseline))
    )
    nudged = sorted(
        at - changed_at for d in devices if (at := d.first_after(d.nudges_seen, baseline))
    )
    within = sum(1 for s in held if s <= TARGET_S)
    client_buckets = per_second_counts(
        fleet.counters.manifest_started_at[started_requests:], changed_at, settled_at
    )
    figures = {
        "change": n + 1,
        "put_ms": round((changed_at - sent_at) * 1000, 1),
        "devices": len(devices),
        "held_new_cursor": len(held),
        "within_15s": within,
        "missed_15s": len(devices) - within,
        "share_within_15s": round(within / len(devices), 5),
        "p50_s": _seconds(held, 50),
        "p90_s": _seconds(held, 90),
        "p99_s": _seconds(held, 99),
        "max_s": round(held[-1], 3) if held else None,
        "nudge_p50_s": _seconds(nudged, 50),
        "nudge_p99_s": _seconds(nudged, 99),
        "nudge_max_s": round(nudged[-1], 3) if nudged else None,
        "nudged_devices": len(nudged),
        "manifest_requests": sum(client_buckets),
        "peak_manifest_rps_client": max(client_buckets),
        "http_errors": fleet.counters.http_errors - errors_before,
    }
    return figures, changed_at, settled_at


async def measure(args: argparse.Namespace, api: fleet_stack.ApiServer, broker: Any) -> dict:
    report: dict[str, Any] = {"devices": args.devices, "jitter_s": args.jitter_s,
                              "min_interval_s": args.min_interval_s, "api_workers": args.workers,
                              "http_connections": args.http_connections}  # fmt: skip
    token = await asyncio.to_thread(create_tenant, api.database_url, "fleet")
    async with (
        httpx.AsyncClient(
            base_url=api.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as admin,
        httpx.AsyncClient(base_url=api.url, timeout=30) as anonymous,
        # A real device has its own connection: waiting for one of the simulator's
        # pooled connections is the simulator's queue, bounded by the settle time.
        aiohttp.ClientSession(
            base_url=api.url,
            connector=aiohttp.TCPConnector(limit=args.http_connections),
            timeout=aiohttp.ClientTimeout(total=30 + args.settle_s),
        ) as http,
    ):
        playlist_id, schedule_id = await setup_content(admin)
        schedule = {"playlist_id": playlist_id, "target": {"all": True}, "id": schedule_id}
        started = time.monotonic()
        credentials = await enroll(admin, anonymous, args.devices, args.enroll_concurrency)
        enroll_s = time.monotonic() - started
        progress(f"{len(credentials)} devices enrolled in {enroll_s:.1f} s")
        fleet = PushFleet(
            broker_host="127.0.0.1", broker_port=broker.port, http=http, devices=credentials,
            max_jitter_s=args.jitter_s, min_gap_s=args.min_interval_s,
            connect_concurrency=args.connect_concurrency, http_connections=args.http_connections,
        )  # fmt: skip
        started = time.monotonic()
        synced = min(args.devices, args.first_syncs)
        await fleet.first_sync(synced, args.http_connections)
        first_sync_s = time.monotonic() - started
        progress(f"first (full) manifest of {synced} devices in {first_sync_s:.1f} s")
        runner = asyncio.create_task(fleet.run())
        sampling = Sampling(admin, api, broker.pid)
        sampler = asyncio.create_task(sampling.run())
        try:
            connect_s = await _bounded_wait(
                "all devices subscribed",
                lambda: fleet.subscribed_count() == len(fleet.devices),
                60 + args.devices / 50,
                lambda: f"({fleet.subscribed_count()} subscribed)",
            )
            await asyncio.sleep(2.0)  # retained nudges from enrollment arrive and are judged
            progress(f"{fleet.subscribed_count()} devices subscribed in {connect_s:.1f} s")
            await _bounded_wait("quiet after connecting", fleet.quiet, 60, fleet.busy)
            report["setup"] = {
                "enroll_s": round(enroll_s, 1),
                "enrolled_per_s": round(args.devices / enroll_s, 1),
                "first_syncs": synced,
                "first_sync_s": round(first_sync_s, 1),
                "connect_and_subscribe_s": round(connect_s, 1),
            }
            report["memory_idle_connected"] = sampling.memory()
            report["api_processes"] = sampling.samplers["api"].processes()
            cpu_before, window_start = sampling.cpu(), time.monotonic()
            shared_before = await manifest_requests_served(admin, api.metrics_token, SHARED)
            report["changes"] = []
            for n in range(args.changes):
                figures, changed_at, settled_at = await one_change(n, fleet, admin, schedule, args)
                # The next change waits out the player's rate limit; after the last one,
                # /metrics gets two more samples for the server-side peak.
                next_at = changed_at + args.min_interval_s + args.jitter_s + 0.5
                if n == args.changes - 1:
                    next_at = settled_at + 2.5
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                with_server = sampling.peak_served_per_s(changed_at, settled_at)
                figures["peak_manifest_rps_server"] = with_server
                report["changes"].append(figures)
                progress(f"change {n + 1}: {json.dumps(figures)}")
                try:
                    figures["quiet_after_s"] = round(
                        await _bounded_wait("quiet", fleet.quiet, args.settle_s, fleet.busy), 1
                    )
                except RuntimeError as exc:  # the next change would measure this one's backlog
                    figures["quiet_after_s"] = str(exc)
                    progress(f"stopping after change {n + 1}: {exc}")
                    break
            window_s = time.monotonic() - window_start
            shared_after = await manifest_requests_served(admin, api.metrics_token, SHARED)
            if shared_before is not None and shared_after is not None:
                # Manifests answered with the plan computed once for their scope.
                report["manifests_shared_during_changes"] = int(shared_after - shared_before)
            cpu_after = sampling.cpu()
            report["cpu_during_changes"] = {
                "window_s": round(window_s, 1),
                **{f"{k}_cores": round((cpu_after[k] - cpu_before[k]) / window_s, 2)
                   for k in cpu_after},
            }  # fmt: skip
            report["memory_peak_sampled"] = {
                f"{name}_rss_kb": s.peak_rss_kb for name, s in sampling.samplers.items()
            }
            report["memory_hwm_kb"] = {n: s.hwm_kb() for n, s in sampling.samplers.items()}
        finally:
            sampler.cancel()
            fleet.stop()
            await asyncio.wait_for(asyncio.gather(runner, sampler, return_exceptions=True), 60)
    counters = fleet.counters
    report["manifest_statuses"] = dict(sorted(counters.manifest_statuses.items()))
    report["http_errors"] = counters.http_errors
    report["mqtt_errors"] = counters.mqtt_errors
    report["error_samples"] = counters.error_samples
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["ok"] = counters.http_errors == 0 and all(
        c["share_within_15s"] >= TARGET_SHARE for c in report["changes"]
    )
    return report


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lomuz-fleet-push-") as tmp:
        root = Path(tmp)
        with (
            fleet_stack.broker(root / "broker", args.devices + 100) as broker,
            fleet_stack.fresh_postgres(args.postgres) as database_url,
        ):
            env = fleet_stack.api_env(database_url, broker.url, root)
            with fleet_stack.api_server(env, args.workers, root) as api:
                report = asyncio.run(asyncio.wait_for(measure(args, api, broker), args.deadline_s))
            if not report["ok"]:
                lines = (root / "api.log").read_text(errors="replace").splitlines()
                report["api_log_tail"] = lines[-20:]
            return report


def print_table(report: dict[str, Any]) -> None:
    setup = report["setup"]
    print(
        f"{report['devices']} devices, jitter 0..{report['jitter_s']} s, "
        f"{report['api_workers']} API workers: enrolled in {setup['enroll_s']} s "
        f"({setup['enrolled_per_s']}/s), "
        f"connected+subscribed {setup['connect_and_subscribe_s']} s, first manifests of "
        f"{setup['first_syncs']} devices {setup['first_sync_s']} s"
    )
    print("change  p50 s  p90 s  p99 s  max s  missed>15s  peak req/s (client/server)  nudge p99")
    for c in report["changes"]:
        print(
            f"{c['change']:>6} {c['p50_s']!s:>6} {c['p90_s']!s:>6} {c['p99_s']!s:>6} "
            f"{c['max_s']!s:>6} {c['missed_15s']:>11}  "
            f"{c['peak_manifest_rps_client']:>10} / {c['peak_manifest_rps_server']!s:<14}"
            f" {c['nudge_p99_s']!s:>6}"
        )
    print("memory idle:", report["memory_idle_connected"])
    print("memory peak:", report["memory_peak_sampled"])
    print("cpu during changes:", report["cpu_during_changes"])
    print("manifests shared during changes:", report.get("manifests_shared_during_changes"))
    print("load average:", report["load_average"], "ok:", report["ok"])
    for sample in report["error_samples"]:
        print("error:", sample)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds: every process started is ended


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
