"""A push nudge becomes one fresh sync on the daemon's main thread (no broker here:
tests/player/adapters/test_mqtt_push.py has the real one)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from lomuz_rules.push import encode_nudge
from player.runtime.daemon_parts import DaemonParts
from player.runtime.nudges import NudgeSyncs
from player.runtime.sync_requests import SyncRequests


@dataclass
class _Outcome:
    sync_interval_s: int | None = None

    def as_json(self) -> dict[str, object]:
        return {}


@dataclass
class RecordingSyncer:
    fresh: list[bool] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def sync_once(self, *, fresh: bool = False) -> _Outcome:
        with self.cond:
            self.fresh.append(fresh)
            self.cond.notify_all()
        return _Outcome()


@dataclass
class _Network:
    syncer: RecordingSyncer
    pick_ups: int = 0

    def pick_up_commands(self) -> None:
        self.pick_ups += 1


@dataclass
class _Parts:
    network: _Network


def test_a_nudged_sync_is_fresh_and_a_signalled_one_is_not() -> None:
    syncer = RecordingSyncer()
    requests = SyncRequests(
        cast(DaemonParts, _Parts(_Network(syncer))), interval_changed=lambda _s: None
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=requests.serve, args=(stop,), kwargs={"reconnect": lambda: False}
    )
    thread.start()
    try:
        with syncer.cond:
            assert syncer.cond.wait_for(lambda: syncer.fresh == [False], 5)  # the boot sync
        requests.nudge()
        with syncer.cond:
            assert syncer.cond.wait_for(lambda: len(syncer.fresh) == 2, 5)
        requests.requested.set()  # SIGHUP
        with syncer.cond:
            assert syncer.cond.wait_for(lambda: len(syncer.fresh) == 3, 5)
        assert syncer.fresh == [False, True, False]
    finally:
        stop.set()
        thread.join(5)


class Requests:
    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def __call__(self) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()


def _nudges(requests: Requests, cursor: str | None, **kw: Any) -> NudgeSyncs:
    nudges = NudgeSyncs(
        cursor=lambda: cursor,
        request_sync=requests,
        monotonic=time.monotonic,
        max_jitter_s=kw.get("max_jitter_s", 0),
        min_gap_s=kw.get("min_gap_s", 3600),
        unit_random=lambda: 1.0,
    )
    nudges.start()
    return nudges


def test_only_a_newer_revision_requests_a_sync_and_a_burst_requests_one() -> None:
    requests = Requests()
    nudges = _nudges(requests, "10.scope")
    try:
        for payload in (b"junk", encode_nudge(10), encode_nudge(9), b'{"revision": "11"}'):
            nudges.on_payload(payload)
        time.sleep(0.2)
        assert requests.count == 0
        for revision in range(11, 60):
            nudges.on_payload(encode_nudge(revision))
        with requests.cond:
            assert requests.cond.wait_for(lambda: requests.count == 1, 5)
        time.sleep(0.2)
        assert requests.count == 1  # the others joined it or wait min_gap_s
    finally:
        nudges.stop()


def test_the_sync_waits_for_its_jitter() -> None:
    requests = Requests()
    nudges = _nudges(requests, None, max_jitter_s=0.5)  # unit_random 1.0: the full 0.5 s
    try:
        started = time.monotonic()
        nudges.on_payload(encode_nudge(1))
        with requests.cond:
            assert requests.cond.wait_for(lambda: requests.count == 1, 5)
        assert time.monotonic() - started >= 0.45
    finally:
        nudges.stop()
