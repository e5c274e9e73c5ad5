"""A shared enrollment limiter, and device-token revocation seen by every process.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:00:00

``revocation_serial`` is one row bumped by every transaction that revokes a
device token (a new enrollment code, a deleted device): each API process polls
it to drop its cached tokens within a second. ``enroll_failures`` counts bad
enrollment codes per client address for every API worker at once (it was a
dict in each process, so a worker never saw the others' failures).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    serial = op.create_table(
        "revocation_serial",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_serial")),
    )
    op.bulk_insert(serial, [{"id": 1, "serial": 0}])
    op.create_table(
        "enroll_failures",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_enroll_failures")),
    )
    with op.batch_alter_table("enroll_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enroll_failures_window_started_at"), ["window_started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("enroll_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enroll_failures_window_started_at"))
    op.drop_table("enroll_failures")
    op.drop_table("revocation_serial")
