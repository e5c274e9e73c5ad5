"""Play ids in their canonical spelling (lowercase, hyphenated UUID).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:00:00

Any spelling of a UUID is the same play (PROTOCOL.md). The API used to store the
id as sent, so ``{UUID}``, upper case, no dashes or ``urn:uuid:`` could each be
a play of their own. Each such row takes the canonical id; when the canonical
play is already stored (the same play sent twice, spelled two ways), the
non-canonical row is the duplicate and is removed.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_plays = sa.table("plays", sa.column("tenant_id", sa.String), sa.column("id", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    pid = _plays.c.id
    odd = sa.select(_plays.c.tenant_id, pid).where(
        sa.or_(
            sa.func.length(pid) != 36,
            pid != sa.func.lower(pid),
            *(sa.func.substr(pid, at, 1) != "-" for at in (9, 14, 19, 24)),
        )
    )
    for tenant_id, play_id in conn.execute(odd).all():
        try:
            canonical = str(uuid.UUID(play_id))
        except ValueError:
            continue  # not a UUID at all: leave it, the API never matches it again
        if canonical == play_id:
            continue
        same = (_plays.c.tenant_id == tenant_id) & (pid == play_id)
        taken = conn.execute(
            sa.select(pid).where(_plays.c.tenant_id == tenant_id, pid == canonical)
        ).first()
        if taken is None:
            conn.execute(sa.update(_plays).where(same).values(id=canonical))
        else:
            conn.execute(sa.delete(_plays).where(same))


def downgrade() -> None:
    pass  # the canonical spelling is a valid spelling: nothing to undo
