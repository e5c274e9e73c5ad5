"""Value types for the media cache's index (what the store knows about files).

Files are addressed by sha256 only. ``CacheEntry``/``CacheUsage`` are what the
cache on disk reports (``player.ports.MediaFiles``). A file is *present* once it was fully
downloaded and its size and hash verified; only present, non-quarantined files
are ever played. All instants are tz-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FileState:
    """One entry of the cache index."""

    sha256: str
    size_bytes: int
    present: bool
    verified_at: datetime | None = None
    quarantined_until: datetime | None = None
    quarantine_reason: str | None = None
    last_played_at: datetime | None = None

    def is_quarantined_at(self, at: datetime) -> bool:
        """Quarantine holds while ``at < quarantined_until``."""
        return self.quarantined_until is not None and at < self.quarantined_until

    def is_playable_at(self, at: datetime) -> bool:
        return self.present and not self.is_quarantined_at(at)


@dataclass(frozen=True)
class FileNeed:
    """A file the current catalogue references (input of the download manager)."""

    sha256: str
    size_bytes: int
    url: str
    asset_ids: tuple[str, ...]
    present: bool
    emergency: bool = False


@dataclass(frozen=True)
class CacheEntry:
    """One committed file. ``modified_at_s`` is the file's mtime (epoch seconds)."""

    sha256: str
    size_bytes: int
    modified_at_s: float


@dataclass(frozen=True)
class CacheUsage:
    files: int
    size_bytes: int
