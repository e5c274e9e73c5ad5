"""Device presence from MQTT keepalive and last will (issue 13).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00

``devices.presence_state`` ("online"/"offline"; NULL: never heard over MQTT)
and ``presence_changed_at``; one ``device_presence_events`` row per
transition, indexed for a device's transitions newest first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: a plain ALTER TABLE ADD COLUMN on both SQLite and PostgreSQL.
    op.add_column("devices", sa.Column("presence_state", sa.String(8), nullable=True))
    op.add_column(
        "devices", sa.Column("presence_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "device_presence_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("device_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_device_presence_events_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_device_presence_events"),
    )
    op.create_index(
        "ix_device_presence_events_device",
        "device_presence_events",
        ["tenant_id", "device_id", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_device_presence_events_device", table_name="device_presence_events")
    op.drop_table("device_presence_events")
    op.drop_column("devices", "presence_changed_at")
    op.drop_column("devices", "presence_state")
