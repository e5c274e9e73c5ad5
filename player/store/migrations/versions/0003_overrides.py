"""Overrides: "play this playlist here until T" above every schedule (PROTOCOL.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("playlist_id", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_overrides_playlist_id", "overrides", ["playlist_id"])


def downgrade() -> None:
    op.drop_index("ix_overrides_playlist_id", table_name="overrides")
    op.drop_table("overrides")
