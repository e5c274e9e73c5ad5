"""Loudness, true peak and cue points of assets; crossfades of playlists (issue 14).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 03:00:00

``assets``: the measurement (``loudness_lufs``, ``true_peak_dbtp``, ``cue_in_ms``,
``cue_out_ms``) and the measuring state the background measurers share
(``measure_state`` "pending"/"measured"/"failed", NULL for images; attempts, the
last error, when to try next, a lease, ``measured_at``). Every audio and video
asset that exists now is left "pending": the measurers of the upgraded API
measure it. ``playlists.crossfade_ms`` (0 for every existing playlist).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ASSET_COLUMNS = (
    ("loudness_lufs", sa.Float()),
    ("true_peak_dbtp", sa.Float()),
    ("cue_in_ms", sa.BigInteger()),
    ("cue_out_ms", sa.BigInteger()),
    ("measure_state", sa.String(10)),
    ("measure_error", sa.String(300)),
    ("measure_next_at", sa.DateTime(timezone=True)),
    ("measure_lease_owner", sa.String(40)),
    ("measure_lease_until", sa.DateTime(timezone=True)),
    ("measured_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Nullable columns or NOT NULL with a default: a plain ALTER TABLE ADD COLUMN on
    # both SQLite and PostgreSQL.
    for name, type_ in _ASSET_COLUMNS:
        op.add_column("assets", sa.Column(name, type_, nullable=True))
    op.add_column(
        "assets",
        sa.Column("measure_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_assets_measure_due", "assets", ["measure_state", "measure_next_at"])
    op.execute("UPDATE assets SET measure_state = 'pending' WHERE media_type IN ('audio', 'video')")
    op.add_column(
        "playlists",
        sa.Column("crossfade_ms", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("playlists", "crossfade_ms")
    op.drop_index("ix_assets_measure_due", table_name="assets")
    op.drop_column("assets", "measure_attempts")
    for name, _ in reversed(_ASSET_COLUMNS):
        op.drop_column("assets", name)
