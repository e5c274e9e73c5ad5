"""An index for the panel's Plays counts: per day, per asset, per device over a range.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:00:00

The Plays page counts a range of a tenant's plays three ways (GROUP BY day,
asset, device). (tenant_id, started_at, asset_id, device_id) holds every column
those queries read, so each is one index range scan, never a table lookup per play.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_plays_tenant_started_counts",
        "plays",
        ["tenant_id", "started_at", "asset_id", "device_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_plays_tenant_started_counts", table_name="plays")
