"""Nudges: after a commit that changed a tenant's content, tell the devices whose view changed.

The store's write session reports each committed (tenant, revision) to
:meth:`Nudger.committed` (``Database.listen_commits``). That call only records
the revision range per tenant and returns: the request never waits for the
broker or for the fan-out query. The nudger's one thread then reads, for each
tenant with pending revisions, the devices the changes touched
(``control_api.store.push_targets``) and hands them to the publisher with the
newest revision. Ranges of one tenant coalesce, so the backlog is bounded by
the number of tenants, whatever the rate of edits.

A publisher that is down drops nudges (counted in ``lomuz_push_nudges_total
{outcome="dropped"}``): devices still poll, and the retained nudge of their
next change catches them up. Thread-safe; ``stop()`` waits for the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from control_api.metrics import Metrics
from control_api.push_publisher import NudgePublisher, NullPublisher
from control_api.store import push_targets
from control_api.store.db import Database

log = logging.getLogger(__name__)
# After a failed lookup (a database failover, a busy SQLite) the range waits this
# long before it is tried again, so a lasting failure does not spin.
RETRY_PAUSE_S = 1.0

__all__ = ["NudgePublisher", "Nudger", "NullPublisher"]


class Nudger:
    """Fans committed revisions out to the affected devices, on its own thread."""

    def __init__(self, db: Database, publisher: NudgePublisher, metrics: Metrics) -> None:
        self._db = db
        self._publisher = publisher
        self._metrics = metrics
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[int, int]] = {}  # tenant -> (after, up_to]
        self._busy = False
        self._stopping = False
        self._failing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._publisher.start()
        self._thread = threading.Thread(target=self._run, name="lomuz-nudger", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._publisher.stop()

    def committed(self, revisions: Sequence[tuple[str, int]]) -> None:
        """A write session committed these (tenant id, revision) pairs; returns at once."""
        with self._cond:
            for tenant_id, revision in revisions:
                self._requeue(tenant_id, revision - 1, revision)
            self._cond.notify_all()

    def _requeue(self, tenant_id: str, after: int, up_to: int) -> None:
        """Merge ``(after, up_to]`` into the tenant's pending range (the lock held)."""
        held_after, held_up_to = self._pending.get(tenant_id, (after, up_to))
        self._pending[tenant_id] = (min(held_after, after), max(held_up_to, up_to))

    def wait_idle(self, timeout_s: float) -> bool:
        """Whether everything committed so far was handed to the publisher (tests, bench)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and not self._busy, timeout=timeout_s
            )

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                tenant_id = next(iter(self._pending))
                after, up_to = self._pending.pop(tenant_id)
                self._busy = True
            try:
                self._nudge(tenant_id, after, up_to)
            except Exception:  # loop boundary: the range goes back, retried after a pause
                if not self._failing:
                    log.exception("push: cannot compute the devices to nudge")
                self._failing = True
                with self._cond:
                    self._requeue(tenant_id, after, up_to)
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self._stopping, timeout=RETRY_PAUSE_S)
                continue
            else:
                self._failing = False
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _nudge(self, tenant_id: str, after: int, up_to: int) -> None:
        with self._db.read() as s:
            roots = push_targets.changed_roots(s, tenant_id, after, up_to)
            device_ids = push_targets.devices_of(s, tenant_id, roots)
        if not device_ids:
            return
        accepted = self._publisher.publish(device_ids, up_to)
        self._metrics.nudges(sent=accepted, dropped=len(device_ids) - accepted)
