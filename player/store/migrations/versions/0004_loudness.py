"""Issue 14: each asset's measured loudness, true peak and cue points, each
playlist's crossfade, as the manifest carries them (PROTOCOL.md).

Rows stored before this revision are unmeasured (NULL) with no crossfade (0)
until the next manifest carries the API's measurement.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("loudness_lufs", sa.Float(), nullable=True))
        batch.add_column(sa.Column("true_peak_dbtp", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cue_in_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cue_out_ms", sa.Integer(), nullable=True))
    with op.batch_alter_table("playlists") as batch:
        batch.add_column(
            sa.Column("crossfade_ms", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("playlists") as batch:
        batch.drop_column("crossfade_ms")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("cue_out_ms")
        batch.drop_column("cue_in_ms")
        batch.drop_column("true_peak_dbtp")
        batch.drop_column("loudness_lufs")
