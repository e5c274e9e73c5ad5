"""Push nudges to syncs: decode, compare with the cursor, jitter, rate-limit, request.

``on_payload`` is called from the push link's thread with whatever arrived on
the nudge topic; it decodes (``lomuz_rules.push``: anything else is ignored),
asks the stored cursor whether the nudge is news, and plans the sync by the
rules of ``player.core.push``. Its own thread waits for the planned instant
and then calls ``request_sync`` (the daemon's: one fresh sync on its main
thread). Nothing here talks to the network, so a hostile payload costs a
decode of at most ``MAX_NUDGE_BYTES`` and, at worst, one sync per
``min_gap_s``. Thread-safe; ``stop()`` joins the thread.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from lomuz_rules.push import decode_nudge, nudge_wants_sync
from player.core.push import jitter_s, nudge_sync_due_at

log = logging.getLogger(__name__)


class NudgeSyncs:
    """Turns nudges into at most one pending, jittered, rate-limited sync request."""

    def __init__(
        self,
        *,
        cursor: Callable[[], str | None],
        request_sync: Callable[[], None],
        monotonic: Callable[[], float],
        max_jitter_s: float,
        min_gap_s: float,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._cursor = cursor
        self._request_sync = request_sync
        self._monotonic = monotonic
        self._max_jitter_s = max_jitter_s
        self._min_gap_s = min_gap_s
        self._random = unit_random
        self._cond = threading.Condition()
        self._due_s: float | None = None
        self._last_started_s: float | None = None
        self._stopping = False
        self.requested = 0  # syncs requested so far (status, tests)
        self._thread = threading.Thread(target=self._run, name="lomuz-nudges", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def on_payload(self, payload: bytes) -> None:
        """A message on the nudge topic (the push link's thread); returns at once."""
        revision = decode_nudge(payload)
        if revision is None:
            return
        try:
            cursor = self._cursor()
        except Exception:  # the store is busy or closing: the next poll catches up
            log.debug("push: cursor unreadable for a nudge", exc_info=True)
            cursor = None
        if not nudge_wants_sync(revision, cursor):
            return
        with self._cond:
            due = nudge_sync_due_at(
                now_s=self._monotonic(),
                jitter_s=jitter_s(self._max_jitter_s, self._random()),
                pending_due_s=self._due_s,
                last_started_s=self._last_started_s,
                min_gap_s=self._min_gap_s,
            )
            if due is not None:
                self._due_s = due
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._due_s is None:
                        self._cond.wait()
                        continue
                    wait_s = self._due_s - self._monotonic()
                    if wait_s <= 0:
                        break
                    self._cond.wait(wait_s)
                if self._stopping:
                    return
                self._due_s = None
                self._last_started_s = self._monotonic()
                self.requested += 1
            try:
                self._request_sync()
            except Exception:  # loop boundary: a nudge is only a hint
                log.exception("push: requesting a sync failed")
