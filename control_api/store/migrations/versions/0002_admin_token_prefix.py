"""Admin tokens keep a short, non-secret prefix so that one can be named to revoke.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 10:00:00

Tokens issued before this have no prefix (only their hash is known): they stay
valid and can be revoked by giving the whole token.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=8), nullable=True))
        batch_op.create_index(
            "ix_admin_tokens_tenant_prefix", ["tenant_id", "prefix"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("admin_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_admin_tokens_tenant_prefix")
        batch_op.drop_column("prefix")
