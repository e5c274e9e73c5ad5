"""Deleting revoked devices' broker accounts, durably, off the request path (issue 13).

The transaction that revokes a device token records the deletion of its
account (``broker_deletions``: ``services.devices.TokenRevocation``, and
``services.push_credentials`` when a revocation overtook an issue); after the
commit :meth:`BrokerRevocations.wake` wakes this process's thread, so the
request never waits for the broker. The thread deletes every pending account
(``deleteClient`` also disconnects a session that is still open) and drops its
row once the broker confirmed. With the broker down the rows stay and are
retried every ``retry_s``; rows another worker or a killed process left, or
whose wake-up was lost, are found by that same sweep. Deleting is idempotent,
so two workers sweeping at once do no harm.
Thread-safe; ``stop()`` waits for the thread (bounded).
"""

from __future__ import annotations

import logging
import threading

from control_api.broker_accounts import BrokerAccounts
from control_api.core.broker_accounts import delete_steps
from control_api.errors import PushUnavailable
from control_api.store import broker_deletions
from control_api.store.db import Database

log = logging.getLogger(__name__)

RETRY_S = 30.0
BATCH = 100


class BrokerRevocations:
    """Deletes the broker accounts whose deletion is recorded, on its own thread."""

    def __init__(
        self,
        db: Database,
        accounts: BrokerAccounts,
        *,
        retry_s: float = RETRY_S,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._retry_s = retry_s
        self._cond = threading.Condition()
        self._woken = True  # sweep once at start: rows a stopped process left
        self._stopping = False
        self._failing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lomuz-broker-revoke", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """A deletion was recorded (committed): sweep now (returns at once)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def sweep(self) -> int:
        """Delete what is pending now; how many are still pending (the thread; tests)."""
        while True:
            with self._db.read() as s:
                todo = broker_deletions.pending(s, BATCH)
            for done, (device_id, requested_at) in enumerate(todo):
                try:
                    self._accounts.apply(delete_steps(device_id))
                except PushUnavailable as exc:
                    if not self._failing:
                        log.warning("push: cannot delete broker accounts yet (%s); retrying", exc)
                    self._failing = True
                    return len(todo) - done
                with self._db.write() as s:
                    broker_deletions.served(s, device_id, requested_at)
            if self._failing:
                log.info("push: broker accounts of revoked devices deleted again")
            self._failing = False
            if len(todo) < BATCH:
                return 0

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._woken or self._stopping, timeout=self._retry_s)
                if self._stopping:
                    return
                self._woken = False
            try:
                self.sweep()
            except Exception:  # loop boundary: a database outage; the next sweep retries
                log.exception("push: cannot read or record pending broker deletions")
