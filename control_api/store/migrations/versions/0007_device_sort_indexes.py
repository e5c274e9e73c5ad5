"""Indexes for the panel's device pages: sorted by name or last seen, a device's plays.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:30:00

The devices page of a 5,000-device tenant pages by keyset in name order or in
last-seen order; each needs its (tenant_id, key, id) index to stay one range scan.
A device's page lists its latest plays: (tenant_id, device_id, started_at, id).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_devices_tenant_name", "devices", ["tenant_id", "name", "id"])
    op.create_index("ix_devices_tenant_last_seen", "devices", ["tenant_id", "last_seen_at", "id"])

    op.create_index(
        "ix_plays_tenant_device_started", "plays", ["tenant_id", "device_id", "started_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_plays_tenant_device_started", table_name="plays")
    op.drop_index("ix_devices_tenant_last_seen", table_name="devices")
    op.drop_index("ix_devices_tenant_name", table_name="devices")
