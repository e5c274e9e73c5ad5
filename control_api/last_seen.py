"""Devices' ``last_seen_at``, written in batches.

Every device request says the device was seen. Written one request at a time,
that was a pooled connection, a transaction and a commit (an fsync) per request:
most of the API's cost in a push nudge's burst, where thousands of devices ask at
once. :class:`LastSeenWriter` keeps the newest time per device in memory and a
thread writes them all every ``period_s`` in a few transactions, in id order (two
workers flushing the same devices lock their rows in the same order, so they do
not deadlock). ``period_s`` 0 writes on each request (tests read it back at once).

A flush that fails keeps its entries for the next one (unless newer ones came);
the last flush runs at :meth:`stop`. A crash loses at most one period of times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, or_, update
from sqlalchemy.exc import SQLAlchemyError

from control_api.store.db import Database
from control_api.store.models import Device

log = logging.getLogger(__name__)
# Rows per transaction: short row locks beside telemetry and director edits.
FLUSH_CHUNK_ROWS = 500

_WRITE_SEEN = (
    update(Device)
    .where(
        Device.id == bindparam("device_id"),
        or_(Device.last_seen_at.is_(None), Device.last_seen_at < bindparam("seen_at")),
    )
    .values(last_seen_at=bindparam("seen_at"))
)


class LastSeenWriter:
    def __init__(self, db: Database, now: Callable[[], datetime], period_s: float) -> None:
        self._db = db
        self._now = now
        self._period_s = period_s
        self._lock = threading.Lock()
        self._pending: dict[str, datetime] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def seen(self, device_id: str) -> None:
        """The device made a request now (returns at once unless ``period_s`` is 0)."""
        at = self._now()
        if self._period_s <= 0:
            self._write({device_id: at})
            return
        with self._lock:
            self._pending[device_id] = at

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what is pending now; how many devices were written."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            self._write(batch)
        except SQLAlchemyError:
            with self._lock:
                for device_id, at in batch.items():
                    newer = self._pending.get(device_id)
                    if newer is None or newer < at:
                        self._pending[device_id] = at
            if not self._failing:
                log.warning("last_seen_at: cannot write %d devices", len(batch), exc_info=True)
            self._failing = True
            return 0
        if self._failing:
            log.info("last_seen_at: writing again")
        self._failing = False
        return len(batch)

    def start(self) -> None:
        if self._period_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="lomuz-last-seen", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self._period_s):
            try:
                self.flush()
            except Exception:  # the thread must outlive any one flush
                log.exception("last_seen_at: flush failed")

    def _write(self, batch: dict[str, datetime]) -> None:
        rows = [{"device_id": d, "seen_at": batch[d]} for d in sorted(batch)]
        for start in range(0, len(rows), FLUSH_CHUNK_ROWS):
            with self._db.write() as s:
                s.connection().execute(_WRITE_SEEN, rows[start : start + FLUSH_CHUNK_ROWS])
