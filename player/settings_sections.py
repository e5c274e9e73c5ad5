"""The sections of the player's settings (``[api]``, ``[playback]``, ...): one frozen
dataclass each, with their defaults. ``player.settings`` validates every key and
builds them; the ``[audio]`` section is the gain rule's own settings
(``player.core.loudness.LoudnessSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from player.core.loudness import LoudnessSettings

# [audio]: loudness levelling (issue 14), owned by the rule that uses it.
AudioSettings = LoudnessSettings


@dataclass(frozen=True)
class ApiSettings:
    url: str | None = None  # also written by `enroll` next to the credentials
    # Plain http:// to a host that is not loopback (api.url, enroll --api, the
    # enrolled URL, media origins) is refused unless this is true.
    allow_insecure_http: bool = False
    # Origins (scheme://host[:port]) besides the API's own that media may come from.
    media_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlaybackSettings:
    backend: str = "vlc"  # "vlc" | "null"
    fallback: str = "jingle"  # "jingle" | "silence"
    volume: int = 100  # 0..100
    crossfade_ms: int = 0  # 0 = gapless changes only, no overlap
    audio_output: str | None = None  # libvlc aout module name; None = libvlc's choice
    gapless: bool = True


@dataclass(frozen=True)
class SyncSettings:
    interval_s: int = 600
    jitter_s: int = 60


@dataclass(frozen=True)
class PushSettings:
    # The MQTT broker (mqtt:// or mqtts://, user:password@ allowed); None: no push, polling
    # only; "issued" (ISSUED_BROKER): the broker and a per-device account the API issues.
    url: str | None = None
    jitter_s: int = 3  # a nudge's sync waits a random 0..jitter_s seconds
    min_interval_s: int = 10  # at least this long between two syncs started by nudges
    ca_file: Path | None = None  # mqtts with a private CA: the PEM file to trust


@dataclass(frozen=True)
class DownloadSettings:
    concurrency: int = 2
    max_cache_bytes: int | None = None  # None = bounded by min_free_bytes only
    min_free_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class TelemetrySettings:
    interval_s: int = 60
    outbox_max_rows: int = 50_000  # the store's bound on unsent plays


@dataclass(frozen=True)
class MetricsSettings:
    textfile_dir: Path | None = None  # node_exporter textfile collector directory


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
