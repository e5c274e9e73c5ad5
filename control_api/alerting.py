"""Alerts in the background: the offline sweep and the webhook sender, one thread each.

The sweep runs every ``LOMUZ_ALERTS_SWEEP_S`` (a device that goes silent sends
nothing, so only a sweep sees it go offline) and prunes the delivery log. The
sender claims due deliveries with a lease (several workers never send one row
at once), signs and POSTs each, and records the outcome; it sleeps until
:meth:`Alerting.wake` (telemetry queued an event) or the poll interval.

A receiver that hangs, trickles or is down only holds the sender thread, each
POST bounded by the client's wall-clock deadline: requests never wait for it. Every loop
catches what it does not expect (logged; retried next round), so a database
blip never kills a thread. Thread-safe; ``stop()`` waits for both threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from control_api.core.webhooks import SIGNATURE_HEADER, signature
from control_api.services import alerts, webhooks
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.webhook_http import TOTAL_TIMEOUT_S, PostResult

log = logging.getLogger(__name__)
CLAIM_BATCH = 10
# A claimed batch: each POST ends within TOTAL_TIMEOUT_S; the lease outlasts the batch.
LEASE_S = CLAIM_BATCH * (TOTAL_TIMEOUT_S + 2) + 60


class AttemptCounter(Protocol):
    """``control_api.metrics.Metrics`` (kept apart: the metrics import Falcon)."""

    def webhook_attempt(self, outcome: str) -> None: ...


class Poster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult: ...

    def close(self) -> None: ...


class Alerting:
    def __init__(
        self,
        db: Database,
        metrics: AttemptCounter,
        poster: Poster,
        *,
        now: Callable[[], datetime],
        telemetry_interval_s: int,
        sweep_s: float,
        poll_s: float,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._poster = poster
        self._now = now
        self._telemetry_interval_s = telemetry_interval_s
        self._sweep_s = sweep_s
        self._poll_s = poll_s
        self._owner = repo.new_id("snd")
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        loops = (("lomuz-alerts-sweep", self._sweep_loop), ("lomuz-alerts-send", self._send_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stopping.set()
        self._woken.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._poster.close()

    def wake(self) -> None:
        """Deliveries were queued: the sender looks now (returns at once)."""
        self._woken.set()

    def sweep_once(self) -> int:
        """One sweep (the thread's round; tests call it with their clock)."""
        queued = alerts.sweep(self._db, self._now(), self._telemetry_interval_s)
        if queued:
            self.wake()
        return queued

    def send_due(self) -> int:
        """Send what is due now, batch after batch; how many attempts were made."""
        made = 0
        while not self._stopping.is_set():
            claimed = webhooks.claim_due(
                self._db, owner=self._owner, now=self._now(), lease_s=LEASE_S, limit=CLAIM_BATCH
            )
            for item in claimed:
                try:  # one delivery that cannot be sent never holds up the rest
                    self._attempt(item)
                except Exception:
                    log.exception("webhook delivery %s: attempt failed", item.delivery.id)
            made += len(claimed)
            if len(claimed) < CLAIM_BATCH:
                return made
        return made

    def _attempt(self, item: webhooks.Claimed) -> None:
        d = item.delivery
        body = d.body.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Lomuz-Event": d.event_type,
            "X-Lomuz-Delivery": d.id,
            SIGNATURE_HEADER: signature(item.secret, int(time.time()), body),
        }
        result = self._poster.post(item.url, body, headers)
        outcome = webhooks.record_attempt(
            self._db,
            d,
            owner=self._owner,
            status=result.status,
            error=result.error,
            now=self._now(),
        )
        self._metrics.webhook_attempt(outcome)
        if outcome != "delivered":
            log.info(
                "webhook delivery %s (%s) attempt %d: %s -> %s",
                d.id,
                d.event_type,
                d.attempts + 1,
                result.error,
                outcome,
            )

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self._sweep_s):
            try:
                self.sweep_once()
            except Exception:
                log.exception("alerts: the offline sweep failed; trying again next round")

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._woken.wait(self._poll_s)
            self._woken.clear()
            if self._stopping.is_set():
                return
            try:
                self.send_due()
            except Exception:
                log.exception("alerts: sending webhooks failed; trying again next round")
                self._stopping.wait(1.0)
