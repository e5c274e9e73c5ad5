"""The player's SQLite schema (SQLAlchemy Core tables).

Instants are stored as integer microseconds since the Unix epoch (UTC): exact,
cheap to index and compare. The migrations under ``migrations/`` create this
schema; a test checks they agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

from player.store.read_only import from_micros, to_micros


class UtcMicros(TypeDecorator[datetime]):
    """A tz-aware datetime stored as integer microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(value)


metadata = MetaData()

assets = Table(
    "assets",
    metadata,
    Column("id", String, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("media_type", String, nullable=False),
    Column("content_type", String, nullable=False),
    Column("title", Text, nullable=False),
    Column("duration_ms", Integer),
    Column("valid_from", UtcMicros),
    Column("valid_until", UtcMicros),
    Column("emergency", Boolean, nullable=False),
    Column("url", Text, nullable=False),
    # Measured by the API (issue 14); NULL: not measured yet.
    Column("loudness_lufs", Float),
    Column("true_peak_dbtp", Float),
    Column("cue_in_ms", Integer),
    Column("cue_out_ms", Integer),
    Index("ix_assets_sha256", "sha256"),
    Index("ix_assets_emergency_id", "emergency", "id"),
    Index("ix_assets_valid_from", "valid_from"),
    Index("ix_assets_valid_until", "valid_until"),
)

playlists = Table(
    "playlists",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("crossfade_ms", Integer, nullable=False, server_default="0"),
)

playlist_items = Table(
    "playlist_items",
    metadata,
    Column(
        "playlist_id",
        String,
        ForeignKey("playlists.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    # No foreign key: a dangling asset is detected after applying a manifest
    # and rejected with a message naming it.
    Column("asset_id", String, nullable=False),
    Column("duration_ms", Integer),
    # Copy of rotation.last_played_at (NULL = never played) so a single index
    # walk finds the least recently played playable item.
    Column("last_played_at", UtcMicros),
    Index("ix_playlist_items_asset_id", "asset_id"),
    Index("ix_playlist_items_rotation", "playlist_id", "last_played_at", "position"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", String, primary_key=True),
    Column("playlist_id", String, nullable=False),
    Column("target", String, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("days", String, nullable=False),  # "1,2,3"
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
    Column("valid_from", UtcMicros),
    Column("valid_until", UtcMicros),
    Column("created_at", UtcMicros, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_schedules_playlist_id", "playlist_id"),
)

overrides = Table(
    "overrides",
    metadata,
    Column("id", String, primary_key=True),
    Column("playlist_id", String, nullable=False),
    Column("target", String, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("until", UtcMicros, nullable=False),
    Index("ix_overrides_playlist_id", "playlist_id"),
)

files = Table(
    "files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("present", Boolean, nullable=False),
    Column("verified_at", UtcMicros),
    Column("quarantined_until", UtcMicros),
    Column("quarantine_reason", Text),
    Column("last_played_at", UtcMicros),
    Index("ix_files_quarantined_until", "quarantined_until"),
)

rotation = Table(
    "rotation",
    metadata,
    Column("playlist_id", String, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("asset_id", String, nullable=False),
    Column("last_played_at", UtcMicros, nullable=False),
    Index("ix_rotation_order", "playlist_id", "last_played_at", "position"),
)

plays = Table(
    "plays",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("asset_id", String, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("started_at", UtcMicros, nullable=False),
    Column("ended_at", UtcMicros, nullable=False),
    Column("source", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("schedule_id", String),
    Column("playlist_id", String),
    Column("uploaded", Boolean, nullable=False, default=False),
    Index("ix_plays_uploaded_seq", "uploaded", "seq"),
)

state = Table(
    "state",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)
