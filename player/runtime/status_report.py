"""What the running daemon reports: the one status model, read from the built parts.

Nothing is built to report it: now playing, the downloads and a full disk
are read only from parts already built (``parts.has``). The host's side
(libvlc's version, the system probe) is passed in as calls, so that the
runtime imports no adapter. Safe from any thread once the store, clock and
cache are built (the daemon's ``started``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import player
from player.core.push import PushStatus
from player.core.status import (
    CacheUse,
    PlayerStatus,
    RuntimeStatus,
    audio_state,
)
from player.runtime.daemon_parts import DaemonParts


class StatusReport:
    """Reads the one status model of a running daemon from ``parts``.

    ``enrolled`` tells whether credentials are loaded; ``libvlc_version`` and
    ``system`` (the host probe's JSON) are called only ``with_host``.
    """

    def __init__(
        self,
        parts: DaemonParts,
        *,
        started_at: datetime,
        enrolled: Callable[[], bool],
        libvlc_version: Callable[[], str | None],
        system: Callable[[], Mapping[str, object]],
    ) -> None:
        self._parts = parts
        self._started_at = started_at
        self._enrolled = enrolled
        self._libvlc_version = libvlc_version
        self._system = system

    def can_read(self) -> bool:
        """Whether ``model`` reads without building a part: the store, clock and cache are."""
        return all(self._parts.has(name) for name in ("store", "clock", "cache"))

    def model(self, *, with_host: bool = True) -> PlayerStatus:
        """The one status model, read once (``with_host``: libvlc and the host probe too)."""
        parts = self._parts
        store, clock, cache = parts.store, parts.clock, parts.cache
        network = parts.network
        now = clock.now()
        usage = cache.usage()
        playing = parts.loop.now_playing() if parts.has("loop") else None
        runtime = RuntimeStatus(
            started_at=self._started_at,
            player_version=player.__version__,
            libvlc_version=self._libvlc_version() if with_host else None,
            now_playing=playing,
            audio=audio_state(parts.settings.playback.backend, playing),
            enrolled=self._enrolled(),
            downloads=(
                network.downloads.status()
                if network is not None and network.has_downloads()
                else None
            ),
            storage_full=parts.has("janitor") and parts.janitor.storage_full,
            system=self._system() if with_host else None,
            push=network.push_status() if network is not None else PushStatus("off"),
        )
        return PlayerStatus(
            at=now,
            state=store.state.read(),
            counts=store.outbox.counts(now),
            cache=CacheUse(usage.files, usage.size_bytes),
            clock=clock.status(),
            runtime=runtime,
            plays_total=store.outbox.plays_recorded_count(),
        )
