"""An index for the library's pages: a tenant's assets in id order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:15:00

``GET /media`` and ``GET /v1/assets`` page a tenant's assets by keyset in id
order; with only (tenant_id, emergency) the database sorted all 50,000 assets
of a tenant for each page of 50. (tenant_id, id) makes a page one range scan.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assets_tenant_id", "assets", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_assets_tenant_id", table_name="assets")
