"""Initial player schema: catalogue, file index, rotation, plays outbox, state.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer()),
        sa.Column("valid_from", sa.BigInteger()),
        sa.Column("valid_until", sa.BigInteger()),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
    )
    op.create_index("ix_assets_sha256", "assets", ["sha256"])
    op.create_index("ix_assets_emergency_id", "assets", ["emergency", "id"])
    op.create_index("ix_assets_valid_from", "assets", ["valid_from"])
    op.create_index("ix_assets_valid_until", "assets", ["valid_until"])

    op.create_table(
        "playlists",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "playlist_items",
        sa.Column(
            "playlist_id",
            sa.String(),
            sa.ForeignKey("playlists.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("asset_id", sa.String(), nullable=False),
        sa.Column("duration_ms", sa.Integer()),
    )
    op.create_index("ix_playlist_items_asset_id", "playlist_items", ["asset_id"])

    op.create_table(
        "schedules",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("playlist_id", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("days", sa.String(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.BigInteger()),
        sa.Column("valid_until", sa.BigInteger()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_schedules_playlist_id", "schedules", ["playlist_id"])

    op.create_table(
        "files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("verified_at", sa.BigInteger()),
        sa.Column("quarantined_until", sa.BigInteger()),
        sa.Column("quarantine_reason", sa.Text()),
        sa.Column("last_played_at", sa.BigInteger()),
    )
    op.create_index("ix_files_quarantined_until", "files", ["quarantined_until"])

    op.create_table(
        "rotation",
        sa.Column("playlist_id", sa.String(), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("asset_id", sa.String(), nullable=False),
        sa.Column("last_played_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rotation_order", "rotation", ["playlist_id", "last_played_at", "position"])

    op.create_table(
        "plays",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(), nullable=False, unique=True),
        sa.Column("asset_id", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("schedule_id", sa.String()),
        sa.Column("playlist_id", sa.String()),
        sa.Column("uploaded", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_plays_uploaded_seq", "plays", ["uploaded", "seq"])

    op.create_table(
        "state",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "state",
        "plays",
        "rotation",
        "files",
        "schedules",
        "playlist_items",
        "playlists",
        "assets",
    ):
        op.drop_table(table)
