"""The player's status, one typed model (issue 11: it was assembled four times).

Invariants
----------
* ``PlayerStatus`` is built once per reading, from the store's device state
  (``DeviceState``, read through ``player.store.read_only.read_device_state``,
  the one owner of the state keys), the store's counts, the cache use, the
  clock and what only the running daemon knows (``RuntimeStatus``). Every view
  renders it: ``lomuz-player status`` (text and ``--json``) and the daemon's
  live status (control socket, telemetry) in ``player.status_render``, the
  node_exporter textfile in ``PlayerMetrics.from_status``, the systemd
  ``STATUS=`` line in ``status_line``.
* Pure data: no I/O, nothing read at construction; instants are tz-aware.
* ``runtime`` is None when no daemon contributed (``lomuz-player status`` reads
  the database itself); ``clock`` is None when no corrected clock was asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lomuz_rules.model import Tier
from player.core.clock import ClockStatus
from player.core.files import FileState
from player.core.model import DeviceInfo
from player.core.push import PUSH_OFF, PushStatus

# The state keys ``lomuz-player status`` shows under "state" when present (written
# by the syncer, daemon and uploader; the typed fields own cursor/device/last_sync_*).
SHOWN_STATE_KEYS = (
    "last_sync_error",
    "last_error",
    "last_error_at",
    "now_playing",
    "clock_offset_s",
    "clock_trusted",
)


@dataclass(frozen=True)
class DeviceState:
    """The store's device state (its ``state`` table), typed.

    Empty strings (a cleared error, a reset bound) read as None.
    ``shown`` holds the ``SHOWN_STATE_KEYS`` present, raw, in that order.
    """

    cursor: str | None = None
    device: DeviceInfo | None = None
    last_sync_ok_at: datetime | None = None  # the syncer's
    last_sync_attempt_at: datetime | None = None
    last_sync_error: str | None = None
    sync_failures: int = 0  # consecutive failed syncs (the API's device.sync_failing alert)
    clock_lower_bound: datetime | None = None
    plays_dropped: int = 0
    storage_full: bool = False  # the janitor's verdict, kept across restarts
    shown: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StoreCounts:
    assets: int
    playlists: int
    schedules: int
    files_present: int
    quarantined: int
    outbox_pending: int  # includes plays_in_memory
    outbox_total: int
    plays_dropped: int
    plays_in_memory: int = 0  # not yet written: the filesystem is full


NO_COUNTS = StoreCounts(0, 0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class NowPlaying:
    """Snapshot for status, metrics and sd_notify.

    ``state``: starting|playing|silence|no_audio|stopped.
    """

    state: str
    tier: Tier | None = None
    asset_id: str | None = None
    sha256: str | None = None
    schedule_id: str | None = None
    playlist_id: str | None = None
    started_at: datetime | None = None
    supports_overlap: bool = True
    # "unknown" until an item was checked, then "ok" or "none" (no sound device).
    audio_output: str = "unknown"
    audio_problem: str | None = None
    # The item's loudness gain (player.core.loudness) and why, while one plays.
    gain_db: float | None = None
    gain_reason: str | None = None


@dataclass(frozen=True)
class DownloadFailure:
    sha256: str
    failures: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class DownloadStatus:
    pending: int  # still to fetch, including those backing off
    in_progress: tuple[str, ...]
    failing: tuple[DownloadFailure, ...]
    downloaded_total: int
    failed_total: int
    downloaded_bytes_total: int


@dataclass(frozen=True)
class CacheUse:
    files: int
    size_bytes: int


@dataclass(frozen=True)
class AudioState:
    """Whether sound reaches a device: ``state`` "ok", "none" (no device), "unknown" or "off"."""

    backend: str
    state: str
    problem: str | None


@dataclass(frozen=True)
class RuntimeStatus:
    """What only the running daemon knows. ``system`` is the host probe's JSON (or None)."""

    started_at: datetime
    player_version: str
    libvlc_version: str | None
    now_playing: NowPlaying | None
    audio: AudioState
    enrolled: bool
    downloads: DownloadStatus | None
    storage_full: bool
    system: Mapping[str, object] | None = None
    push: PushStatus = PUSH_OFF


@dataclass(frozen=True)
class PlayerStatus:
    at: datetime
    state: DeviceState
    counts: StoreCounts
    cache: CacheUse
    clock: ClockStatus | None = None
    runtime: RuntimeStatus | None = None
    quarantined: tuple[FileState, ...] = ()
    plays_total: int = 0

    @property
    def playing(self) -> bool:
        now = self.runtime.now_playing if self.runtime is not None else None
        return now is not None and now.state == "playing"


def audio_state(backend: str, playing: NowPlaying | None) -> AudioState:
    """The ``null`` backend is "off"; else what the playback loop last saw."""
    if backend == "null":
        return AudioState(backend, "off", None)
    return AudioState(
        backend,
        playing.audio_output if playing is not None else "unknown",
        playing.audio_problem if playing is not None else None,
    )


def status_line(playing: NowPlaying) -> str:
    """The systemd ``STATUS=`` line: "playing: playlist a1", "silence: silence"."""
    return f"{playing.state}: {playing.tier or '-'} {playing.asset_id or ''}".strip()
