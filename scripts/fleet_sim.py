#!/usr/bin/env python3
"""Simulate a fleet of Lomuz players against a control API (PROTOCOL.md v1).

Sets up content with an admin token (uploads a few assets, a playlist, a
schedule for all devices), creates and enrolls N devices, then for a bounded
duration each device does what a real player does, with its intervals divided
by ``--speedup``: poll the manifest with its cursor (mostly 304), download new
media (sometimes in two ``Range`` halves, sha256 verified), send telemetry and
upload its plays in batches. A director edits an asset now and then so some
polls get a delta. Reports latency percentiles, statuses and errors per
endpoint. Exit status 0 when no request failed, 1 otherwise, 2 on bad usage.

    .venv/bin/python scripts/fleet_sim.py --api http://127.0.0.1:8080 \\
        --admin-token TOKEN --devices 50 --duration-s 30 --concurrency 8 --json

``--database-url URL`` instead of ``--admin-token`` creates a tenant with
``lomuz-control tenant create NAME --json`` against that database.
The run stops by itself: workers stop taking work at the deadline and every
request has a timeout.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import heapq
import io
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx


class SimError(Exception):
    """Setup could not complete (bad arguments, API refused, tenant creation failed)."""


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The API may spend up to its media-check budget (30 s) on one upload on a busy
# server; a shorter client timeout would cut uploads the server still accepts.
UPLOAD_TIMEOUT_S = 60.0


def noise_wav(samples: bytes, rate_hz: int = 8000) -> bytes:
    """``samples`` as 8-bit mono PCM in a WAV file: the API takes only real media."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(rate_hz)
        wav.writeframes(samples)
    return out.getvalue()


@dataclasses.dataclass
class EndpointStats:
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    statuses: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return round(lat[min(len(lat) - 1, max(0, int(p / 100 * len(lat) + 0.5) - 1))], 2)

        count = sum(self.statuses.values())
        return {
            "count": count,
            "errors": self.errors,
            "error_rate": round(self.errors / count, 5) if count else 0.0,
            "statuses": dict(sorted(self.statuses.items())),
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1], 2) if lat else None,
        }


class Recorder:
    """Thread-safe per-endpoint latency and status bookkeeping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.endpoints: dict[str, EndpointStats] = collections.defaultdict(EndpointStats)
        self.error_samples: list[str] = []

    def add(self, label: str, status: str, latency_ms: float | None, error: str | None) -> None:
        with self._lock:
            stats = self.endpoints[label]
            stats.statuses[status] += 1
            if latency_ms is not None:
                stats.latencies_ms.append(latency_ms)
            if error is not None:
                stats.errors += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{label}: {error}")

    def totals(self) -> tuple[int, int]:
        with self._lock:
            count = sum(sum(s.statuses.values()) for s in self.endpoints.values())
            errors = sum(s.errors for s in self.endpoints.values())
        return count, errors

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {label: stats.summary() for label, stats in sorted(self.endpoints.items())}


class Api:
    """httpx client that times each request and records it under a label."""

    def __init__(
        self, base_url: str, *, concurrency: int, timeout_s: float, recorder: Recorder
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            limits=httpx.Limits(
                max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2
            ),
        )
        self.recorder = recorder
        self.timeout_s = timeout_s

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        label: str,
        method: str,
        url: str,
        *,
        token: str | None,
        expect: tuple[int, ...],
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request; a transport error or an unexpected status is recorded and gives None."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        headers.update(kwargs.pop("headers", {}))
        started = time.perf_counter()
        try:
            response = self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.recorder.add(label, type(exc).__name__, None, f"{type(exc).__name__}: {exc}")
            return None
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code not in expect:
            self.recorder.add(
                label,
                str(response.status_code),
                latency_ms,
                f"{response.status_code} {response.text[:200]}",
            )
            return None
        self.recorder.add(label, str(response.status_code), latency_ms, None)
        return response

    def check(self, label: str, ok: bool, message: str) -> None:
        """Records a protocol violation found after a request succeeded."""
        if not ok:
            self.recorder.add(label, "invalid", None, message)


@dataclasses.dataclass
class Device:
    index: int
    device_id: str
    token: str
    cursor: str | None = None
    assets: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    playlists: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    cached: set[str] = dataclasses.field(default_factory=set)
    last_plays_at: float = 0.0  # monotonic
    plays_sent: int = 0


@dataclasses.dataclass(frozen=True)
class Options:
    devices: int
    duration_s: float
    concurrency: int
    speedup: float
    sync_interval_s: float
    telemetry_interval_s: float
    play_interval_s: float
    range_fraction: float
    refetch_fraction: float
    edit_interval_s: float
    assets: int
    asset_bytes: int
    seed: int


class Scheduler:
    """A heap of (due, seq, device, action) that workers pop when due, until the deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()

    def push(self, due: float, device: int, action: str) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), device, action))
            self._cond.notify()

    def pop_due(self) -> tuple[int, str] | None:
        with self._cond:
            while True:
                now = time.monotonic()
                if now >= self.deadline:
                    self._cond.notify_all()
                    return None
                if self._heap and self._heap[0][0] <= now:
                    _, _, device, action = heapq.heappop(self._heap)
                    return device, action
                wake = self.deadline if not self._heap else min(self._heap[0][0], self.deadline)
                self._cond.wait(timeout=min(0.5, max(0.0, wake - now)))


class FleetSim:
    def __init__(self, api: Api, admin_token: str, opts: Options) -> None:
        self.api = api
        self.admin_token = admin_token
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self._rng_lock = threading.Lock()
        self.devices: list[Device] = []
        self.asset_ids: list[str] = []
        self.manifest_statuses: collections.Counter[int] = collections.Counter()
        self._lock = threading.Lock()
        self.bytes_downloaded = 0

    def _random(self) -> float:
        with self._rng_lock:
            return self.rng.random()

    # -- setup -------------------------------------------------------------

    def setup(self) -> None:
        nonce = uuid.uuid4().hex[:8]
        data_rng = random.Random(f"{self.opts.seed}:{nonce}")
        for i in range(self.opts.assets):
            body = noise_wav(data_rng.randbytes(self.opts.asset_bytes))
            response = self.api.call(
                "POST /v1/assets",
                "POST",
                "/v1/assets",
                token=self.admin_token,
                expect=(200, 201),
                content=body,
                headers={"Content-Type": "audio/wav"},
                timeout=max(self.api.timeout_s, UPLOAD_TIMEOUT_S),
                params={
                    "filename": f"sim-{nonce}-{i}.wav",
                    "title": f"sim {nonce} {i}",
                    "emergency": "true" if i == self.opts.assets - 1 else "false",
                },
            )
            if response is None:
                raise SimError(f"asset upload failed: {self.api.recorder.error_samples[-1:]}")
            self.asset_ids.append(response.json()["id"])
        playlist = self.api.call(
            "POST /v1/playlists",
            "POST",
            "/v1/playlists",
            token=self.admin_token,
            expect=(201,),
            json={"name": f"sim {nonce}", "items": [{"asset_id": a} for a in self.asset_ids]},
        )
        if playlist is None:
            raise SimError(f"playlist creation failed: {self.api.recorder.error_samples[-1:]}")
        schedule = self.api.call(
            "POST /v1/schedules",
            "POST",
            "/v1/schedules",
            token=self.admin_token,
            expect=(201,),
            json={"playlist_id": playlist.json()["id"], "target": {"all": True}},
        )
        if schedule is None:
            raise SimError(f"schedule creation failed: {self.api.recorder.error_samples[-1:]}")

        def enroll(i: int) -> Device | None:
            created = self.api.call(
                "POST /v1/devices",
                "POST",
                "/v1/devices",
                token=self.admin_token,
                expect=(201,),
                json={
                    "name": f"sim-{nonce}-{i:05d}",
                    "timezone": "Europe/Paris",
                    "groups": ["sim"],
                },
            )
            if created is None:
                return None
            enrolled = self.api.call(
                "POST /v1/enroll",
                "POST",
                "/v1/enroll",
                token=None,
                expect=(201,),
                json={
                    "enrollment_code": created.json()["enrollment_code"],
                    "hardware": {"model": "fleet-sim", "index": i},
                },
            )
            if enrolled is None:
                return None
            body = enrolled.json()
            return Device(i, body["device_id"], body["device_token"])

        with ThreadPoolExecutor(max_workers=self.opts.concurrency) as pool:
            results = list(pool.map(enroll, range(self.opts.devices)))
        self.devices = [d for d in results if d is not None]
        if not self.devices:
            raise SimError(f"no device enrolled: {self.api.recorder.error_samples[-1:]}")

    # -- device behaviour --------------------------------------------------

    def sync(self, dev: Device) -> None:
        params = {"since": dev.cursor} if dev.cursor is not None else {}
        label = "GET /v1/device/manifest"
        response = self.api.call(
            label, "GET", "/v1/device/manifest", token=dev.token, expect=(200, 304), params=params
        )
        if response is None:
            return
        with self._lock:
            self.manifest_statuses[response.status_code] += 1
        if response.status_code == 304:
            return
        try:
            manifest = response.json()
            ok = (
                isinstance(manifest, dict)
                and manifest.get("schema") == 1
                and isinstance(manifest.get("cursor"), str)
            )
        except ValueError:
            ok = False
        self.api.check(label, ok, "manifest is not a schema 1 object with a cursor")
        if not ok:
            return
        dev.cursor = manifest["cursor"]
        if manifest.get("full"):
            dev.assets.clear()
            dev.playlists.clear()
            dev.schedules.clear()
        for key, store in (
            ("assets", dev.assets),
            ("playlists", dev.playlists),
            ("schedules", dev.schedules),
        ):
            for item in manifest.get(key, []):
                store[item["id"]] = item
            for gone in manifest.get("deleted", {}).get(key, []):
                store.pop(gone, None)
        for asset in list(dev.assets.values()):
            if asset["sha256"] not in dev.cached:
                self.download(dev, asset)
        if dev.cached and self._random() < self.opts.refetch_fraction:
            # Simulates an evicted or corrupted file being fetched again.
            sha = sorted(dev.cached)[dev.index % len(dev.cached)]
            again = next((a for a in dev.assets.values() if a["sha256"] == sha), None)
            if again is not None:
                dev.cached.discard(sha)
                self.download(dev, again)

    def download(self, dev: Device, asset: dict[str, Any]) -> None:
        url, sha, size = asset["url"], asset["sha256"], int(asset["size"])
        if self._random() < self.opts.range_fraction and size > 1:
            half = size // 2
            first = self.api.call(
                "GET /v1/media (Range)",
                "GET",
                url,
                token=dev.token,
                expect=(206,),
                headers={"Range": f"bytes=0-{half - 1}"},
            )
            if first is None:
                return
            second = self.api.call(
                "GET /v1/media (Range)",
                "GET",
                url,
                token=dev.token,
                expect=(206,),
                headers={"Range": f"bytes={half}-", "If-Range": f'"{sha}"'},
            )
            if second is None:
                return
            body = first.content + second.content
            label = "GET /v1/media (Range)"
        else:
            label = "GET /v1/media"
            whole = self.api.call(label, "GET", url, token=dev.token, expect=(200,))
            if whole is None:
                return
            body = whole.content
        good = len(body) == size and hashlib.sha256(body).hexdigest() == sha
        self.api.check(label, good, f"media {sha[:12]} failed size/sha256 verification")
        if good:
            dev.cached.add(sha)
            with self._lock:
                self.bytes_downloaded += len(body)

    def telemetry(self, dev: Device) -> None:
        now = datetime.now(UTC)
        status = {
            "now_playing": None,
            "cursor": dev.cursor,
            "cache": {"files": len(dev.cached)},
            "disk": {"free_bytes": 10**10},
            "cpu_percent": 12.5,
            "memory_bytes": 80 * 2**20,
            "temperature_c": 48.0,
            "clock": {"trusted": True, "offset_s": 0.0},
            "versions": {"player": "fleet-sim"},
            "reported_at": _instant(now),
        }
        self.api.call(
            "POST /v1/device/telemetry",
            "POST",
            "/v1/device/telemetry",
            token=dev.token,
            expect=(204,),
            json=status,
        )
        self.plays(dev, now)

    def plays(self, dev: Device, now: datetime) -> None:
        schedule: dict[str, Any] | None = next(iter(dev.schedules.values()), None)
        playlist = dev.playlists.get(schedule["playlist_id"]) if schedule else None
        items = [
            dev.assets[i["asset_id"]]
            for i in (playlist or {}).get("items", [])
            if i["asset_id"] in dev.assets
        ]
        if schedule is None or playlist is None or not items:
            return
        mono = time.monotonic()
        play_real_s = self.opts.play_interval_s / self.opts.speedup
        count = min(1000, int((mono - dev.last_plays_at) / play_real_s)) if dev.last_plays_at else 1
        if count < 1:
            return
        dev.last_plays_at = mono
        batch = []
        for k in range(count):
            asset = items[(dev.plays_sent + k) % len(items)]
            ended = now - timedelta(seconds=(count - 1 - k) * play_real_s)
            batch.append(
                {
                    "id": str(uuid.uuid4()),
                    "asset_id": asset["id"],
                    "sha256": asset["sha256"],
                    "started_at": _instant(ended - timedelta(seconds=play_real_s)),
                    "ended_at": _instant(ended),
                    "source": "playlist",
                    "outcome": "completed",
                    "schedule_id": schedule["id"],
                    "playlist_id": playlist["id"],
                }
            )
        response = self.api.call(
            "POST /v1/device/plays",
            "POST",
            "/v1/device/plays",
            token=dev.token,
            expect=(200,),
            json={"plays": batch},
        )
        if response is not None:
            body = response.json()
            self.api.check(
                "POST /v1/device/plays",
                body.get("accepted", -1) + body.get("duplicates", -1) == len(batch),
                f"plays ack {body} for a batch of {len(batch)}",
            )
            dev.plays_sent += len(batch)

    def edit(self) -> None:
        asset_id = self.asset_ids[int(self._random() * len(self.asset_ids))]
        self.api.call(
            "PATCH /v1/assets/{id}",
            "PATCH",
            f"/v1/assets/{asset_id}",
            token=self.admin_token,
            expect=(200,),
            json={"title": f"edited {uuid.uuid4().hex[:6]}"},
        )

    # -- the run -----------------------------------------------------------

    def run(self) -> float:
        """Runs the timed phase; returns the elapsed seconds."""
        opts = self.opts
        started = time.monotonic()
        sched = Scheduler(started + opts.duration_s)
        sync_real_s = opts.sync_interval_s / opts.speedup
        telemetry_real_s = opts.telemetry_interval_s / opts.speedup
        spread_s = min(telemetry_real_s, sync_real_s, 2.0)
        for dev in self.devices:
            # Boot: sync at once-ish (staggered), telemetry soon after.
            sched.push(started + self._random() * spread_s, dev.index, "sync")
            sched.push(
                started + self._random() * spread_s + telemetry_real_s / 2, dev.index, "telemetry"
            )
        if opts.edit_interval_s > 0:
            sched.push(started + opts.edit_interval_s, -1, "edit")
        by_index = {d.index: d for d in self.devices}
        actions: Mapping[str, tuple[Callable[[Device], None], float]] = {
            "sync": (self.sync, sync_real_s),
            "telemetry": (self.telemetry, telemetry_real_s),
        }

        def worker() -> None:
            while (item := sched.pop_due()) is not None:
                index, action = item
                if action == "edit":
                    self.edit()
                    sched.push(time.monotonic() + opts.edit_interval_s, -1, "edit")
                    continue
                func, interval_s = actions[action]
                func(by_index[index])
                jitter = 1 + (self._random() - 0.5) * 0.2  # +-10 %, like the player
                sched.push(time.monotonic() + interval_s * jitter, index, action)

        threads = [
            threading.Thread(target=worker, name=f"sim-{i}", daemon=True)
            for i in range(opts.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            # A worker finishes its current request (bounded by the timeout) and stops.
            t.join()
        return time.monotonic() - started


def create_tenant(database_url: str, name: str) -> str:
    exe = Path(sys.executable).with_name("lomuz-control")
    cmd = [str(exe)] if exe.exists() else [shutil.which("lomuz-control") or "lomuz-control"]
    env = {**os.environ, "LOMUZ_DATABASE_URL": database_url}
    try:
        done = subprocess.run(
            [*cmd, "tenant", "create", name, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SimError(f"could not run lomuz-control: {exc}") from exc
    if done.returncode != 0:
        raise SimError(
            f"lomuz-control tenant create failed ({done.returncode}): {done.stderr.strip()}"
        )
    try:
        return str(json.loads(done.stdout)["admin_token"])
    except (ValueError, KeyError) as exc:
        raise SimError(f"unexpected output from tenant create: {done.stdout!r}") from exc


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--api", required=True, help="control API base URL")
    auth = p.add_mutually_exclusive_group(required=True)
    auth.add_argument("--admin-token", help="an admin token of the tenant to use")
    auth.add_argument("--database-url", help="create a tenant in this database with lomuz-control")
    p.add_argument("--devices", type=_positive(int), default=10)
    p.add_argument("--duration-s", type=_positive(float), default=30.0)
    p.add_argument("--concurrency", type=_positive(int), default=8)
    p.add_argument(
        "--speedup",
        type=_positive(float),
        default=60.0,
        help="divides every device interval (default 60: a minute per second)",
    )
    p.add_argument("--sync-interval-s", type=_positive(float), default=600.0)
    p.add_argument("--telemetry-interval-s", type=_positive(float), default=60.0)
    p.add_argument("--play-interval-s", type=_positive(float), default=180.0)
    p.add_argument(
        "--range-fraction",
        type=_fraction,
        default=0.3,
        help="share of downloads done as two Range requests",
    )
    p.add_argument(
        "--refetch-fraction",
        type=_fraction,
        default=0.05,
        help="chance per sync of fetching a cached file again",
    )
    p.add_argument(
        "--edit-interval-s",
        type=float,
        default=30.0,
        help="real seconds between director edits (0: none)",
    )
    p.add_argument("--assets", type=_positive(int), default=3)
    p.add_argument("--asset-bytes", type=_positive(int), default=64 * 1024)
    p.add_argument("--timeout-s", type=_positive(float), default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p.parse_args(argv)


@contextmanager
def _api(args: argparse.Namespace, recorder: Recorder) -> Iterator[Api]:
    api = Api(
        args.api.rstrip("/"),
        concurrency=args.concurrency,
        timeout_s=args.timeout_s,
        recorder=recorder,
    )
    try:
        yield api
    finally:
        api.close()


def _print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['devices']} devices, {report['elapsed_s']} s, speedup {report['speedup']}, "
        f"concurrency {report['concurrency']}: {report['requests_total']} requests "
        f"({report['requests_per_s']}/s), {report['errors_total']} errors"
    )
    print(f"{'endpoint':34} {'count':>7} {'err':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for label, s in report["endpoints"].items():
        print(
            f"{label:34} {s['count']:>7} {s['errors']:>5} {s['p50_ms']!s:>8} "
            f"{s['p95_ms']!s:>8} {s['p99_ms']!s:>8}"
        )
    for sample in report["error_samples"]:
        print("error:", sample)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    opts = Options(
        devices=args.devices,
        duration_s=args.duration_s,
        concurrency=args.concurrency,
        speedup=args.speedup,
        sync_interval_s=args.sync_interval_s,
        telemetry_interval_s=args.telemetry_interval_s,
        play_interval_s=args.play_interval_s,
        range_fraction=args.range_fraction,
        refetch_fraction=args.refetch_fraction,
        edit_interval_s=args.edit_interval_s,
        assets=args.assets,
        asset_bytes=args.asset_bytes,
        seed=args.seed,
    )
    setup_rec, run_rec = Recorder(), Recorder()
    try:
        token = args.admin_token or create_tenant(
            args.database_url, f"fleet-sim-{uuid.uuid4().hex[:8]}"
        )
        with _api(args, setup_rec) as api:
            sim = FleetSim(api, token, opts)
            sim.setup()
            api.recorder = run_rec
            elapsed_s = sim.run()
    except SimError as exc:
        print(f"fleet_sim: {exc}", file=sys.stderr)
        for sample in setup_rec.error_samples:
            print(f"fleet_sim: {sample}", file=sys.stderr)
        return 1
    requests_total, errors_total = run_rec.totals()
    setup_total, setup_errors = setup_rec.totals()
    report = {
        "api": args.api,
        "devices": len(sim.devices),
        "devices_requested": opts.devices,
        "duration_s": opts.duration_s,
        "elapsed_s": round(elapsed_s, 2),
        "speedup": opts.speedup,
        "concurrency": opts.concurrency,
        "requests_total": requests_total,
        "errors_total": errors_total + setup_errors,
        "error_rate": round(errors_total / requests_total, 5) if requests_total else 0.0,
        "requests_per_s": round(requests_total / elapsed_s, 1) if elapsed_s else 0.0,
        "manifest_statuses": {str(k): v for k, v in sorted(sim.manifest_statuses.items())},
        "bytes_downloaded": sim.bytes_downloaded,
        "endpoints": run_rec.summary(),
        "setup": {
            "requests_total": setup_total,
            "errors_total": setup_errors,
            "endpoints": setup_rec.summary(),
        },
        "error_samples": setup_rec.error_samples + run_rec.error_samples,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0 if report["errors_total"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
