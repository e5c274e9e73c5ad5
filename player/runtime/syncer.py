"""The syncer: pulls the manifest delta since the stored cursor and applies it.

One sync = one manifest request (retried with backoff and jitter on retryable
errors, honouring Retry-After), the API's ``Date`` fed to the clock, and the
delta decoded and applied in one transaction. A bad manifest is rejected whole:
the previous state stays and the error is kept for status (``last_sync_error``;
every decode failure is a ``ManifestError`` naming the field, and even an
unexpected error is recorded there before it reaches the daemon's job boundary). So is a manifest
that cannot be applied because the disk is full (``StoreFull``): the cursor
stays, so the next sync fetches and applies it again. So is a client that
refuses its API URL (plain http:// off loopback without ``[api]
allow_insecure_http``, e.g. a box enrolled that way before the rule): the
ConfigError says how to fix it and nothing is sent. The status keys written
here are kept in memory by the store while its disk is full. Syncs never overlap
(a lock), whether from the scheduler, the control socket or the CLI.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from player.core.backoff import RetryPolicy
from player.errors import PlayerError, StoreFull
from player.interpreter import collector_paused
from player.ports import ManifestSource, Retrier, SyncedClock
from player.store.catalogue import ApplyResult, CatalogueStore
from player.store.device_state import DeviceStateStore
from player.wire import MAX_SYNC_INTERVAL_S, MIN_SYNC_INTERVAL_S, decode_manifest

log = logging.getLogger(__name__)

# How hard one sync retries (the composition root hands it to the Retrier).
SYNC_RETRY = RetryPolicy(max_attempts=4, max_total_s=120.0)


@dataclass(frozen=True)
class SyncOutcome:
    sync_id: str
    changed: bool
    full: bool
    cursor: str | None
    applied: ApplyResult | None
    sync_interval_s: int | None
    duration_s: float

    def as_json(self) -> dict[str, object]:
        applied = self.applied
        return {
            "sync_id": self.sync_id,
            "changed": self.changed,
            "full": self.full,
            "cursor": self.cursor,
            "sync_interval_s": self.sync_interval_s,
            "duration_s": round(self.duration_s, 3),
            "applied": None
            if applied is None
            else {
                "assets_upserted": applied.assets_upserted,
                "assets_removed": applied.assets_removed,
                "playlists_upserted": applied.playlists_upserted,
                "playlists_removed": applied.playlists_removed,
                "schedules_upserted": applied.schedules_upserted,
                "schedules_removed": applied.schedules_removed,
            },
        }


class Syncer:
    """Applies manifest deltas from the control API to the local store."""

    def __init__(
        self,
        catalogue: CatalogueStore,
        state: DeviceStateStore,
        source: ManifestSource,
        clock: SyncedClock,
        *,
        retry: Retrier,
        on_applied: Callable[[SyncOutcome], None] | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._state = state
        self._source = source
        self._clock = clock
        self._retry = retry
        self._on_applied = on_applied
        self._lock = threading.Lock()
        self._failing = False
        self._heal_stored_interval()

    def _heal_stored_interval(self) -> None:
        """Bring a stored ``sync_interval_s`` back within the wire bounds.

        A player before issue 10 stored whatever the API sent (10**12 made the
        daemon's scheduler overflow at every start); the decoder now refuses
        that, and this clamps what an older version left behind, before the
        daemon arms its jobs from it.
        """
        raw = self._state.stored_sync_interval()
        if not raw:
            return
        try:
            value = int(raw)
        except ValueError:
            value = MAX_SYNC_INTERVAL_S
        healed = min(max(value, MIN_SYNC_INTERVAL_S), MAX_SYNC_INTERVAL_S)
        if str(healed) != raw:
            log.warning(
                "stored sync_interval_s %s is out of range: using %d until the next sync",
                raw[:40],
                healed,
            )
            self._state.set_sync_interval_s(healed)

    def sync_once(self, *, fresh: bool = False) -> SyncOutcome:
        """One sync; raises ApiError/ManifestError when it fails (state kept).

        ``fresh``: the sync a push nudge asked for (the API must not answer it from
        a cache that may predate the change).
        """
        with self._lock:
            sync_id = uuid.uuid4().hex[:8]
            started = self._clock.monotonic()
            self._state.record_sync_attempt(self._clock.now())
            try:
                outcome = self._sync(sync_id, started, fresh=fresh)
            except PlayerError as exc:
                self._state.record_sync_error(_storable(f"{type(exc).__name__}: {exc}"))
                if not self._failing and isinstance(exc, StoreFull):
                    log.warning(
                        "sync %s: cannot apply the manifest: %s; the previous state "
                        "stays, retried at the next sync",
                        sync_id,
                        exc,
                    )
                elif not self._failing:
                    log.warning("sync %s: failing: %s", sync_id, exc)
                self._failing = True
                raise
            except Exception as exc:  # a bug: still visible in status, not only in the journal
                self._state.record_sync_error(
                    _storable(f"internal error: {type(exc).__name__}: {exc}")
                )
                self._failing = True
                raise
            if self._failing:
                log.info("sync %s: recovered", sync_id)
            self._failing = False
            self._state.record_sync_ok(self._clock.now())
        if outcome.changed and self._on_applied is not None:
            self._on_applied(outcome)
        return outcome

    def _sync(self, sync_id: str, started: float, *, fresh: bool) -> SyncOutcome:
        since = self._state.cursor()
        fetch = self._retry.call(lambda: self._source.fetch_manifest(since, fresh=fresh))
        server_time = fetch.server_time
        if server_time is not None:
            # Parsed once by the HTTP adapter; on this thread the clock may also
            # persist its bound and notify a step (never in now()).
            self._clock.observe_server_time(server_time)
        if fetch.not_modified or fetch.body is None:
            return SyncOutcome(
                sync_id, False, False, since, None, None, self._clock.monotonic() - started
            )
        with collector_paused():
            # The decoded manifest (~200k objects for 100k assets) is released
            # before the collector resumes, so no collection ever walks it: each
            # would hold the GIL that playback needs (player.interpreter).
            manifest = decode_manifest(fetch.body)
            applied = self._catalogue.apply_manifest(manifest)
            sync_interval_s = manifest.sync_interval_s
            del manifest
        log.info(
            "sync %s: applied %s manifest %s (assets +%d -%d, playlists +%d -%d, "
            "schedules +%d -%d)",
            sync_id,
            "full" if applied.full else "delta",
            applied.cursor,
            applied.assets_upserted,
            applied.assets_removed,
            applied.playlists_upserted,
            applied.playlists_removed,
            applied.schedules_upserted,
            applied.schedules_removed,
        )
        return SyncOutcome(
            sync_id,
            True,
            applied.full,
            applied.cursor,
            applied,
            sync_interval_s,
            self._clock.monotonic() - started,
        )


def _storable(text: str) -> str:
    """``text`` as valid UTF-8 (a lone surrogate from a hostile body is escaped), bounded."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 1000 else text[:997] + "..."
