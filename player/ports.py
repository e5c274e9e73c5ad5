"""The roles the runtime depends on, in one place (issue 11).

``player.runtime`` imports these Protocols, never ``player.adapters``; the
composition root (``player.composition``) passes the concrete adapters in.
Each role lists only what the runtime calls. The values they exchange live
in ``player.core`` and ``player.wire``; the output's events live here, with
the interface whose contract they are.

=================  ==============================  ==========================
role               used by                         implemented by
=================  ==============================  ==========================
``Clock``          playback, downloads, janitor    ``adapters.clock.SystemClock``
``SyncedClock``    the syncer                      ``adapters.clock.SystemClock``
``PlaybackSource`` playback                        ``composition.StoreSource``
``MediaOutput``    playback                        ``VlcOutput``, ``NullOutput``
``ManifestSource`` the syncer                      ``ControlApiClient``
``PushLink``       push nudges (``runtime.nudges``) ``adapters.mqtt_push.MqttPushLink``
``Retrier``        the syncer                      ``adapters.retry.TenacityRetrier``
``TelemetrySink``  telemetry                       ``ControlApiClient``
``MediaFetcher``   downloads                       ``adapters.fetcher.Fetcher``
``MediaFiles``     janitor, downloads              ``adapters.media_cache.MediaCache``
``PlaybackInbox``  playback (``Inbox``: outputs)   ``queue.Queue``
=================  ==============================  ==========================

MediaOutput threading: every method is called from the playback thread only.
An output reports asynchronously by putting events on the inbox given to
``attach``; it never calls back into the loop. Events carry the ``token``
returned by ``prepare`` so the loop can ignore late events of an item it has
moved past.

Lifecycle of an item: ``prepare(path)`` loads it on the idle slot (parsing it
so its length is known) and returns a token; ``start(token)`` makes it play;
it then ends by itself (``MediaEnded``), fails (``MediaFailed``) or is stopped
by ``stop(token)``. With ``supports_overlap`` the next item may be started
while the current one is still playing (gapless hand-over, crossfade);
without it, starting an item stops whatever was playing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lomuz_rules.media_format import MediaFormat
from lomuz_rules.model import Decision
from player.core.clock import ServerTime
from player.core.downloads import FetchResult
from player.core.files import CacheEntry, CacheUsage
from player.core.model import ItemStart, Play
from player.wire.replies import ManifestFetch, PlaysAck

T = TypeVar("T")


# -- time ---------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """Corrected UTC time, tz-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (durations only)."""
        ...


class SyncedClock(Clock, Protocol):
    """A clock that learns the API's time from each sync."""

    def observe_server_time(self, server: ServerTime) -> None:
        """Judge the API's ``Date``; may persist the lower bound or notify a step.

        Called on the syncer's thread, never from ``now()``.
        """
        ...


# -- playback -------------------------------------------------------------------


class PlaybackSource(Protocol):
    """Where decisions come from and plays go (the store's decisions, rotation and outbox)."""

    def decide(self, at: datetime) -> Decision: ...

    def mark_started(self, start: ItemStart) -> None:
        """The item started: advance rotation now.

        Also remembers the item as in progress (its ``play_id`` and
        ``planned_end_at``), until ``record_play``.
        """
        ...

    def mark_alive(self, at: datetime) -> None:
        """The item in progress was still playing at ``at`` (called rarely)."""
        ...

    def record_play(self, play: Play) -> None:
        """The proof of play, at the item's real end (``play.playlist_position`` set)."""
        ...

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None: ...


@dataclass(frozen=True)
class MediaStarted:
    """The item is really playing (first sign of progress)."""

    token: int


@dataclass(frozen=True)
class MediaEnded:
    """The item reached its natural end."""

    token: int


@dataclass(frozen=True)
class MediaFailed:
    """The item would not open or play; ``reason`` is human text for logs and quarantine."""

    token: int
    reason: str


OutputEvent = MediaStarted | MediaEnded | MediaFailed


class Inbox(Protocol):
    """Where other threads post to the playback thread: an output its ``OutputEvent``s,
    the loop's callers their commands (skip, re-evaluate, stop). Thread-safe."""

    def put(self, item: object) -> None: ...


class PlaybackInbox(Inbox, Protocol):
    """The playback thread's inbox; only that thread takes from it.

    Tests pass one whose timeouts run on their fake clock.
    """

    def get(self, *, timeout: float | None) -> object:
        """The next message, waiting up to ``timeout`` seconds; ``queue.Empty`` after that."""
        ...


class MediaOutput(Protocol):
    """Something that plays media files: libvlc (``VlcOutput``) or nothing (``NullOutput``)."""

    @property
    def supports_overlap(self) -> bool:
        """True when two items can sound at once (the output mixes)."""
        ...

    def attach(self, events: Inbox) -> None:
        """Where to put ``OutputEvent``s from now on (the loop's inbox)."""
        ...

    def prepare(
        self, path: Path, media_format: MediaFormat | None = None, gain_db: float = 0.0
    ) -> int:
        """Load ``path`` on the idle slot and return its token.

        ``media_format`` is what the caller identified the file as (the playback
        loop judges every file first), so the output reads nothing more; None:
        the output identifies it and refuses anything not allowed. ``gain_db``
        is the item's loudness gain (``player.core.loudness``), applied for its
        whole life on top of the master volume and its crossfade gain. Raises
        ``PlaybackError`` when the file cannot even be opened.
        """
        ...

    def start(self, token: int) -> None:
        """Start a prepared item; ``MediaStarted``/``MediaFailed`` follow on the queue."""
        ...

    def stop(self, token: int | None = None) -> None:
        """Stop one item, or everything when ``token`` is None. Idempotent."""
        ...

    def set_volume(self, percent: int) -> None:
        """Master volume 0..100 (libvlc's scale, the remote command ``volume``), every slot."""
        ...

    def set_gain(self, token: int, gain: float) -> None:
        """Per-item crossfade gain, an amplitude 0.0..1.0, on top of the master volume
        and the item's loudness gain (``prepare``): the one per-item level control.

        Re-applies the volume; call again on ``MediaStarted`` because some
        outputs ignore volume before the item is actually playing.
        """
        ...

    def length_ms(self, token: int) -> int | None:
        """Natural length, or None when unknown (images, streams, unreadable)."""
        ...

    def position_ms(self, token: int) -> int | None:
        """Current position, or None when the output cannot tell."""
        ...

    def audio_problem(self, token: int) -> str | None:
        """Why the playing item ``token`` reaches no sound device, or None.

        None also when the output cannot tell yet or at all. The loop asks
        once, a moment after the item started, and records a play nobody
        could hear as an error.
        """
        ...

    def close(self) -> None:
        """Stop everything and release every resource. Idempotent."""
        ...


# -- the control API ------------------------------------------------------------


class ManifestSource(Protocol):
    """Where the syncer gets manifests (the control API)."""

    def fetch_manifest(self, since: str | None, *, fresh: bool = False) -> ManifestFetch:
        """The manifest since cursor ``since`` (None: full), body not decoded.

        ``fresh`` (a sync on a push nudge) asks the API past its revision cache.
        Raises the ``ApiError`` tree; ``retryable`` errors may be retried.
        """
        ...


# -- push -----------------------------------------------------------------------


class PushLink(Protocol):
    """One persistent connection to the push broker; what arrives on the device's
    nudge topic goes, as raw bytes, to the handler given to the adapter (from the
    adapter's own thread: the handler returns at once and never raises).

    ``start`` returns at once (the adapter connects and reconnects in the
    background); ``connected`` tells whether the link is up now. The link also
    announces the device's presence (``lomuz_rules.push``): online on each
    connect, offline on ``stop`` and, as its last will, when the connection dies.
    """

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def connected(self) -> bool: ...


class Retrier(Protocol):
    """Runs a call again on retryable errors (``PlayerError.retryable``), within a policy.

    Never sooner than an error's ``retry_after_s``; the last error propagates
    when it gives up.
    """

    def call(self, fn: Callable[[], T]) -> T: ...


class TelemetrySink(Protocol):
    """Where the telemetry uploader sends plays and status reports (the control API)."""

    def post_plays(self, plays_json: list[dict[str, Any]]) -> PlaysAck:
        """Upload one batch of encoded plays; idempotent by play id.

        Raises ``ApiProtocolError`` (with ``status``) when the API refuses it.
        """
        ...

    def post_telemetry(self, status: Mapping[str, Any]) -> None:
        """Send one status report."""
        ...


# -- media files ----------------------------------------------------------------


class MediaFetcher(Protocol):
    """Downloads one file into the media cache, verified. Thread-safe."""

    def fetch(
        self,
        url: str,
        sha256: str,
        size_bytes: int,
        *,
        cancel: threading.Event | None = None,
    ) -> FetchResult:
        """Fetch ``url`` as ``sha256`` (``size_bytes`` long) unless already cached.

        Raises IntegrityError (nothing kept), DownloadError (``retryable``),
        AuthError on 401/403, ValueError on a bad sha256/size/url.
        """
        ...


class MediaFiles(Protocol):
    """The verified media files on disk, addressed by sha256 (the media cache)."""

    @property
    def root(self) -> Path:
        """The cache's directory (named in messages)."""
        ...

    def list_files(self) -> list[CacheEntry]:
        """Every committed file, sorted by sha256."""
        ...

    def usage(self) -> CacheUsage: ...

    def disk_free_bytes(self) -> int:
        """Bytes available to this process on the cache's filesystem."""
        ...

    def verify(self, sha256: str) -> bool:
        """Re-hash the committed file; False when missing or corrupt."""
        ...

    def remove(self, sha256: str) -> bool:
        """Delete the file and any partial download; True if a file was removed."""
        ...

    def stale_parts(self, older_than_s: float) -> list[Path]:
        """Delete partial files untouched for ``older_than_s``; return what was deleted."""
        ...
