"""A simulated push fleet: N MQTT devices in one asyncio process (measurement only).

Each device is what a real player's push path is, minus the music: one MQTT
connection (aiomqtt, which drives paho from the event loop: no thread per
device) subscribed to its nudge and commands topics with the player's QoS, and
a cursor. A message on the nudge topic is judged by the player's own rules
(``lomuz_rules.push.decode_nudge`` / ``nudge_wants_sync``, then
``player.core.push.jitter_s`` / ``nudge_sync_due_at``: the jitter and the rate
limit), and the planned sync is one ``GET /v1/device/manifest?since=<cursor>``
over a shared ``aiohttp.ClientSession`` with a bounded pool (httpx's async
client spent most of the simulator's core at 5,000 devices: its pool scans and
an import attempt per request made the simulator, not the API, the limit). The device records
when the nudge arrived and when it first held each new cursor revision; the
fleet records when each manifest request started (per-second peaks).

Devices do not poll (a real player polls every few minutes): only push can
explain a change arriving within seconds. A lost MQTT connection is counted
and reconnected after 2-5 s, as the player's link does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiomqtt

from lomuz_rules.commands import COMMAND_QOS
from lomuz_rules.push import (
    NUDGE_QOS,
    commands_topic,
    cursor_revision,
    decode_nudge,
    nudge_topic,
    nudge_wants_sync,
)
from player.core.push import jitter_s, nudge_sync_due_at

KEEPALIVE_S = 60  # the player's (player.adapters.mqtt_push)
RECONNECT_MIN_S = 2.0
RECONNECT_SPREAD_S = 3.0
MAX_ERROR_SAMPLES = 20


@dataclass(frozen=True)
class Credentials:
    device_id: str
    token: str


@dataclass
class SimDevice:
    """One device's state; touched only from the event loop."""

    credentials: Credentials
    cursor: str | None = None
    subscribed: bool = False
    pending_due_s: float | None = None
    last_started_s: float | None = None
    # (revision, monotonic time) in arrival order
    nudges_seen: list[tuple[int, float]] = field(default_factory=list)
    cursors_held: list[tuple[int, float]] = field(default_factory=list)
    nudged_syncs: int = 0

    def first_after(self, events: list[tuple[int, float]], revision: int) -> float | None:
        """When the first event naming a revision after ``revision`` happened."""
        return next((at for rev, at in events if rev > revision), None)

    @property
    def revision(self) -> int | None:
        return cursor_revision(self.cursor)


@dataclass
class FleetCounters:
    manifest_started_at: list[float] = field(default_factory=list)
    manifest_statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    http_errors: int = 0
    mqtt_errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, kind: str, message: str) -> None:
        if kind == "http":
            self.http_errors += 1
        else:
            self.mqtt_errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{kind}: {message}"[:300])


class PushFleet:
    """N simulated devices: ``run()`` holds their connections until ``stop()``."""

    def __init__(
        self,
        *,
        broker_host: str,
        broker_port: int,
        http: aiohttp.ClientSession,
        devices: Sequence[Credentials],
        max_jitter_s: float,
        min_gap_s: float,
        connect_concurrency: int = 100,
        http_connections: int = 256,
        unit_random: Callable[[], float] | None = None,
    ) -> None:
        self._broker = (broker_host, broker_port)
        self._http = http
        self.devices = [SimDevice(c) for c in devices]
        self._max_jitter_s = max_jitter_s
        self._min_gap_s = min_gap_s
        self._connect_sem = asyncio.Semaphore(connect_concurrency)
        # A client pool's queue of thousands of waiting requests once stalled the loop
        # (httpcore's, at 5,000); waiting here keeps any pool's queue short.
        self._http_slots = asyncio.Semaphore(http_connections)
        self._random = unit_random or random.Random().random
        self.counters = FleetCounters()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0

    # -- HTTP: the device's sync ------------------------------------------------

    async def sync(self, dev: SimDevice, *, fresh: bool = False) -> None:
        """One manifest request with the device's cursor; keeps the new cursor.

        ``fresh``: ``Cache-Control: no-cache`` as the player sends on a nudge
        (``player.adapters.http_api.fetch_manifest``): past the revision cache.
        """
        params = {"since": dev.cursor} if dev.cursor is not None else {}
        headers = {"Authorization": f"Bearer {dev.credentials.token}"}
        if fresh:
            headers["Cache-Control"] = "no-cache"
        self.counters.manifest_started_at.append(time.monotonic())
        self._in_flight += 1
        try:
            async with (
                self._http_slots,
                self._http.get("/v1/device/manifest", params=params, headers=headers) as response,
            ):
                status = response.status
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.counters.manifest_statuses["error"] += 1
            self.counters.error("http", f"manifest: {type(exc).__name__}: {exc}")
            return
        finally:
            self._in_flight -= 1
        self.counters.manifest_statuses[str(status)] += 1
        if status == 304:
            return
        if status != 200:
            self.counters.error("http", f"manifest {status}: {body[:200]!r}")
            return
        try:
            cursor = json.loads(body)["cursor"]
        except (ValueError, KeyError, TypeError):
            self.counters.error("http", "manifest has no cursor")
            return
        revision = cursor_revision(cursor)
        if revision is None:
            self.counters.error("http", f"manifest cursor {cursor!r} names no revision")
            return
        if dev.revision is None or revision > dev.revision:
            dev.cursors_held.append((revision, time.monotonic()))
        dev.cursor = cursor

    async def first_sync(self, devices: int, concurrency: int) -> None:
        """The first ``devices`` devices sync once (their first, full manifest); the others
        take the cursor the first one got.

        The simulator gives every device the same time zone and groups, so they all
        have one scope and one cursor: a fleet already up to date, without thousands of
        full manifests at setup.
        """
        sem = asyncio.Semaphore(concurrency)

        async def one(dev: SimDevice) -> None:
            async with sem:
                await self.sync(dev)

        await asyncio.gather(*(one(d) for d in self.devices[:devices]))
        cursor = self.devices[0].cursor
        if cursor is None:
            raise RuntimeError(f"the first manifest failed: {self.counters.error_samples[:3]}")
        for dev in self.devices[devices:]:
            dev.cursor = cursor

    # -- MQTT: the device's push link --------------------------------------------

    def _on_nudge(self, dev: SimDevice, payload: bytes) -> None:
        now_s = time.monotonic()
        revision = decode_nudge(payload)
        if revision is None:
            return
        dev.nudges_seen.append((revision, now_s))
        if not nudge_wants_sync(revision, dev.cursor):
            return
        due_s = nudge_sync_due_at(
            now_s=now_s,
            jitter_s=jitter_s(self._max_jitter_s, self._random()),
            pending_due_s=dev.pending_due_s,
            last_started_s=dev.last_started_s,
            min_gap_s=self._min_gap_s,
        )
        if due_s is None:
            return
        dev.pending_due_s = due_s
        asyncio.get_running_loop().call_later(due_s - now_s, self._start_nudged_sync, dev)

    def _start_nudged_sync(self, dev: SimDevice) -> None:
        dev.pending_due_s = None
        dev.last_started_s = time.monotonic()
        dev.nudged_syncs += 1
        self._spawn(self.sync(dev, fresh=True))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link(self, dev: SimDevice) -> None:
        device_id = dev.credentials.device_id
        nudges = nudge_topic(device_id)
        while not self._stopping.is_set():
            client = aiomqtt.Client(
                self._broker[0],
                self._broker[1],
                identifier=f"lomuz-sim-{device_id}",
                clean_session=True,
                keepalive=KEEPALIVE_S,
                timeout=30,
            )
            try:
                async with contextlib.AsyncExitStack() as stack:
                    async with self._connect_sem:
                        await stack.enter_async_context(client)
                        await client.subscribe(
                            [(nudges, NUDGE_QOS), (commands_topic(device_id), COMMAND_QOS)]
                        )
                    dev.subscribed = True
                    async for message in client.messages:
                        if message.topic.value == nudges and isinstance(message.payload, bytes):
                            self._on_nudge(dev, message.payload)
            except aiomqtt.MqttError as exc:
                dev.subscribed = False
                if self._stopping.is_set():
                    return
                self.counters.error("mqtt", f"{device_id}: {exc}")
                await asyncio.sleep(RECONNECT_MIN_S + self._random() * RECONNECT_SPREAD_S)

    async def run(self) -> None:
        """Holds every device's link until :meth:`stop`; then disconnects them all."""
        asyncio.get_running_loop().set_exception_handler(_quiet_about_closed_sockets)
        links = [asyncio.create_task(self._link(d)) for d in self.devices]
        await self._stopping.wait()
        for task in links:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*links, *self._tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    # -- what the measurement reads ----------------------------------------------

    def subscribed_count(self) -> int:
        return sum(1 for d in self.devices if d.subscribed)

    def quiet(self) -> bool:
        """No sync planned or in flight."""
        return self._in_flight == 0 and all(d.pending_due_s is None for d in self.devices)

    def busy(self) -> str:
        """What keeps the fleet from being quiet, for a progress line."""
        pending = sum(1 for d in self.devices if d.pending_due_s is not None)
        return f"{self._in_flight} manifest requests in flight, {pending} syncs planned"

    def held_revision(self) -> int:
        """The newest revision any device holds (all hold the same once settled)."""
        return max((d.revision or 0) for d in self.devices)


def _quiet_about_closed_sockets(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """paho asks the loop to watch a socket aiomqtt has just closed (a disconnect): not news."""
    if isinstance(context.get("exception"), (OSError, KeyError)) and "add_writer" in str(
        context.get("handle")
    ):
        return
    loop.default_exception_handler(context)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(p / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def per_second_counts(times: Sequence[float], start: float, end: float) -> list[int]:
    """How many of ``times`` fall in each whole second from ``start`` up to ``end``."""
    buckets = [0] * max(1, int(end - start) + 1)
    for at in times:
        if start <= at <= end:
            buckets[int(at - start)] += 1
    return buckets
