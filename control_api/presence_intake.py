"""Presence messages from the broker to the store, off paho's network thread.

Every API worker subscribes to every device's presence topic
(``lomuz_rules.push.PRESENCE_FILTER``) and hands each message to
:meth:`PresenceIntake.offer` from paho's thread. ``offer`` decodes it (topic and
payload; both cheap), stamps it with the time received and puts it on a bounded
queue, never blocking: a full queue drops the message (counted ``dropped``),
as a slow database must not stall paho's keepalive. One worker thread stores
each message (``services.presence.record_presence``: idempotent, so the other
workers' copies and QoS-1 redeliveries change nothing).

Nothing a device or a stranger publishes can raise here: a topic naming no
device, a payload that is not presence, a device id the database does not know
are counted (``lomuz_presence_messages_total{outcome}``) and logged once per
kind. A database error loses that message (counted ``failed``); the state comes
back with the broker's retained message at the next (re)subscribe.
Thread-safe; ``stop()`` waits for the thread (bounded).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from control_api.metrics import Metrics
from control_api.store.presence import Recorded
from lomuz_rules.push import PresenceState, decode_presence, presence_device_id

log = logging.getLogger(__name__)

# A fleet's retained states arrive at once on subscribe: 5,000 devices fit 4 times over.
MAX_QUEUED = 20_000

RecordPresence = Callable[[str, PresenceState, datetime], Recorded]


class PresenceListener(Protocol):
    """What feeds the intake (``control_api.presence_mqtt``): started and stopped by the app."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class PresenceIntake:
    """Queues presence messages and stores them on its own thread."""

    def __init__(
        self,
        record: RecordPresence,
        metrics: Metrics,
        now: Callable[[], datetime],
        *,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._record = record
        self._metrics = metrics
        self._now = now
        # None: stop (put by stop(), after what was queued before it).
        self._queue: queue.Queue[tuple[str, PresenceState, datetime] | None] = queue.Queue(
            maxsize=max_queued
        )
        self._logged: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lomuz-presence", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:  # a stuck database: the daemon thread ends with the process
            log.warning("presence: backlog full at stop; %d messages not stored", self.backlog)
        self._thread.join(timeout_s)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def offer(self, topic: str, payload: bytes) -> None:
        """One message as the broker delivered it (paho's thread): returns at once, never raises."""
        if not payload:  # a retained state being cleared (a decommissioned device)
            return
        device_id = presence_device_id(topic)
        if device_id is None:
            self._count("bad_topic", f"a message on {topic[:120]!r}, not a presence topic")
            return
        state = decode_presence(payload)
        if state is None:
            self._count("bad_payload", f"a payload that is not presence, for {device_id!r}")
            return
        try:
            self._queue.put_nowait((device_id, state, self._now()))
        except queue.Full:
            self._count("dropped", f"backlog full ({self._queue.maxsize}): presence dropped")

    def wait_idle(self, timeout_s: float) -> bool:
        """Whether everything offered so far has been handled (tests, bench)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._store(*item)
            finally:
                self._queue.task_done()

    def _store(self, device_id: str, state: PresenceState, received_at: datetime) -> None:
        try:
            outcome = self._record(device_id, state, received_at)
        except Exception:  # loop boundary: one message lost, the next ones still stored
            self._count("failed", "cannot store presence (database error)", exc_info=True)
            return
        if outcome == "unknown_device":
            self._count(outcome, f"presence for {device_id!r}, which no tenant has")
        else:
            self._metrics.presence_message(outcome)

    def _count(self, outcome: str, why: str, *, exc_info: bool = False) -> None:
        self._metrics.presence_message(outcome)
        with self._lock:
            first = outcome not in self._logged
            self._logged.add(outcome)
        if first:
            log.warning("presence: ignored %s (logged once per kind)", why, exc_info=exc_info)
