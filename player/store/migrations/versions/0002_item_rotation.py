"""Denormalise rotation onto playlist items so one index walk picks the next item.

With rotation only in its own table, "first never-played item" had to walk
every item of a fully played playlist before the least-recently-played query
ran: O(playlist). ``playlist_items.last_played_at`` (NULL = never; NULLs sort
first in SQLite) with an index on (playlist_id, last_played_at, position)
answers both at once and stops at the first playable row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playlist_items") as batch:
        batch.add_column(sa.Column("last_played_at", sa.BigInteger()))
        batch.create_index(
            "ix_playlist_items_rotation", ["playlist_id", "last_played_at", "position"]
        )
    op.execute(
        "UPDATE playlist_items SET last_played_at = (SELECT r.last_played_at FROM rotation AS r "
        "WHERE r.playlist_id = playlist_items.playlist_id "
        "AND r.position = playlist_items.position AND r.asset_id = playlist_items.asset_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("playlist_items") as batch:
        batch.drop_index("ix_playlist_items_rotation")
        batch.drop_column("last_played_at")
