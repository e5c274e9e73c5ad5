"""The change log keeps what made each object a root of a view before the change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00

A manifest delta names in ``deleted`` only the schedules and emergency assets
the device held at its cursor (PROTOCOL.md, "Manifest"); telling those apart
from objects it never saw needs their state at the cursor. Rows logged before
this revision keep NULL (unknown): a delta that would need one gets a full
snapshot instead, until the horizon passes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("root_before", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_column("root_before")
