"""Telemetry: the plays outbox uploaded in batches, and periodic status reports.

Plays are deleted from the pending set only once the API acknowledged the
batch (at-least-once delivery; the API dedups by play id). Failures are logged
once when they start and once when they recover.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from player.core.model import Play
from player.errors import ApiProtocolError, PlayerError
from player.ports import TelemetrySink
from player.store.outbox import Outbox
from player.wire import MAX_PLAYS_PER_UPLOAD, encode_play
from player.wire.replies import PlaysAck

log = logging.getLogger(__name__)

# A batch refused with these statuses will be refused again: retrying it forever
# would block every later play.
_REFUSED_STATUSES = frozenset({400, 409, 413, 422})


class TelemetryUploader:
    """Sends pending plays and a status report; safe to call from any one thread at a time."""

    def __init__(
        self,
        outbox: Outbox,
        client: TelemetrySink,
        status: Callable[[], Mapping[str, Any]],
        *,
        batch_size: int = 500,
        max_batches_per_run: int = 20,
    ) -> None:
        if not 1 <= batch_size <= MAX_PLAYS_PER_UPLOAD:
            raise ValueError(f"batch_size must be 1..{MAX_PLAYS_PER_UPLOAD}")
        self._outbox = outbox
        self._client = client
        self._status = status
        self._batch_size = batch_size
        self._max_batches = max_batches_per_run
        self._lock = threading.Lock()
        self._failing: str | None = None
        self.uploaded_total = 0
        self.refused_total = 0  # plays the API refused for good (set aside, counted)

    def upload_plays(self) -> int:
        """Upload pending plays, oldest first; returns how many were acknowledged."""
        sent = 0
        for _ in range(self._max_batches):
            plays = self._outbox.pending_plays(self._batch_size)
            if not plays:
                break
            try:
                ack = self._client.post_plays([encode_play(p) for p in plays])
            except ApiProtocolError as exc:
                if exc.status not in _REFUSED_STATUSES:
                    raise
                # The API refuses this batch for good: find the plays it refuses
                # one by one and set them aside, so they cannot block the outbox.
                self._upload_one_by_one(plays)
                continue
            self._set_aside(ack)
            self._outbox.mark_plays_uploaded([p.id for p in plays])
            sent += len(plays)
            self.uploaded_total += ack.accepted
            if len(plays) < self._batch_size:
                break
        return sent

    def _upload_one_by_one(self, plays: list[Play]) -> None:
        for play in plays:
            try:
                ack = self._client.post_plays([encode_play(play)])
            except ApiProtocolError as exc:
                if exc.status not in _REFUSED_STATUSES:
                    raise
                self.refused_total += 1
                log.warning("telemetry: the API refuses play %s (%s); set aside", play.id, exc)
            else:
                self._set_aside(ack)
                self.uploaded_total += ack.accepted
            self._outbox.mark_plays_uploaded([play.id])

    def _set_aside(self, ack: PlaysAck) -> None:
        """Plays the API refused one by one: never resent, counted, logged with their codes."""
        if not ack.rejected:
            return
        self.refused_total += len(ack.rejected)
        shown = ", ".join(f"{play_id}: {code}" for play_id, code in ack.rejected[:5])
        log.warning("telemetry: the API refuses %d plays (%s); set aside", len(ack.rejected), shown)

    def send_status(self) -> None:
        self._client.post_telemetry(dict(self._status()))

    def run_once(self) -> None:
        """One round (the scheduler's job): plays first, then the status report."""
        with self._lock:
            errors: list[PlayerError] = []
            sent = 0
            # Independent steps: plays the API refuses must not silence the
            # status report (the director would see a stale device).
            try:
                sent = self.upload_plays()
            except PlayerError as exc:
                errors.append(exc)
            try:
                self.send_status()
            except PlayerError as exc:
                errors.append(exc)
            if errors:
                if self._failing is None:
                    log.warning("telemetry: failing: %s", errors[0])
                self._failing = str(errors[0])
                return
            if self._failing is not None:
                log.info("telemetry: recovered")
                self._failing = None
            if sent:
                log.debug("telemetry: %d plays uploaded", sent)
