"""Director accounts for the panel, their sessions, and sign-in throttling.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:30:00

``director_users``: one row per account, email lower-case and unique per
tenant. ``panel_sessions``: keyed by the sha256 of the cookie's token, so any
API process serves any request and a leaked table signs nobody in.
``login_failures``: the throttle's counts, shared by every worker.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "director_users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_director_users_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_director_users")),
        sa.UniqueConstraint("tenant_id", "email", name="uq_director_users_tenant_email"),
    )
    with op.batch_alter_table("director_users", schema=None) as batch_op:
        batch_op.create_index("ix_director_users_email", ["email"], unique=False)
    op.create_table(
        "panel_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["director_users.id"],
            name=op.f("fk_panel_sessions_user_id_director_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_sessions")),
    )
    with op.batch_alter_table("panel_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_panel_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_panel_sessions_expires_at"), ["expires_at"], unique=False
        )
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failures_last_failed_at"), ["last_failed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_last_failed_at"))
    op.drop_table("login_failures")
    with op.batch_alter_table("panel_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_panel_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_panel_sessions_user_id"))
    op.drop_table("panel_sessions")
    with op.batch_alter_table("director_users", schema=None) as batch_op:
        batch_op.drop_index("ix_director_users_email")
    op.drop_table("director_users")
