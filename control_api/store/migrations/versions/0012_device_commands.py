"""Remote commands to devices (PROTOCOL.md "Push and remote commands").

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:30:00

One row per command: its type and value, its state (pending, delivered, done,
failed; "expired" is computed on read from expires_at), the device's result.
The index serves a device's HTTP pick-up of its open commands.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_commands",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("device_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_device_commands_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_device_commands"),
    )
    op.create_index(
        "ix_device_commands_device_state",
        "device_commands",
        ["tenant_id", "device_id", "state", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_device_commands_device_state", table_name="device_commands")
    op.drop_table("device_commands")
