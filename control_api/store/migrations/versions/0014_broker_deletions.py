"""Pending deletions of devices' broker accounts (issue 13, per-device broker credentials).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:00:00

One row per revoked device whose broker account the broker has not yet
confirmed deleted (it was down, or the plugin did not answer); a background
thread of every API process retries them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broker_deletions",
        sa.Column("device_id", sa.String(40), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_broker_deletions"),
    )


def downgrade() -> None:
    op.drop_table("broker_deletions")
