"""Plays counted ahead per UTC day: per (tenant, day, asset) and (tenant, day, device).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00

The Plays page counted a range's plays three ways (GROUP BY day, asset, device)
over the plays themselves: linear in the plays, ~0.5 s for 7 days of a tenant
with 1M plays a month. Ingest now adds each inserted play to two rollups, read
instead. Two narrow tables, not one per (day, asset, device): a device plays
most of its assets a few times a day, so that key holds about as many rows as
plays (594,000 for 1M plays over 30 days in the bench); per (day, asset) and
(day, device) they are bounded by assets x days and devices x days (124,000
and 150,000).

The upgrade fills both from the stored plays (one GROUP BY each) so an upgraded
database shows the same charts. Each play counts ``ended_at - started_at``
floored to the millisecond, as ``store.plays.play_day_rows`` does (this SQL is
its frozen copy: a migration must not change when the code does).

``ix_plays_tenant_started_counts`` (0009) existed only for those counts; it is
dropped so that ingest pays for the rollups rather than for both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SQLITE_DAY = "substr(started_at, 1, 10)"
# SQLite holds instants as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC). Its date
# functions round to the millisecond, so whole seconds come from the text before
# the dot and microseconds from the text after it.
_SQLITE_MS = (
    "((CAST(strftime('%s', substr(ended_at, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr(started_at, 1, 19)) AS INTEGER)) * 1000000"
    " + CAST(substr(ended_at, 21, 6) AS INTEGER)"
    " - CAST(substr(started_at, 21, 6) AS INTEGER)) / 1000"
)
_PG_DAY = "CAST(timezone('UTC', started_at) AS date)"
_PG_MS = "CAST(floor(EXTRACT(EPOCH FROM (ended_at - started_at)) * 1000) AS bigint)"


def _rollup(name: str, column: str) -> None:
    op.create_table(
        name,
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(column, sa.String(40), nullable=False),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", column, name=op.f(f"pk_{name}")),
        # SQLite: the rows live in the primary key's b-tree, so a range of days is
        # one scan that reads no second structure.
        sqlite_with_rowid=False,
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day, played_ms = (_PG_DAY, _PG_MS) if postgres else (_SQLITE_DAY, _SQLITE_MS)
    # Every part of the statement is a constant of this module (no input).
    op.execute(
        f"INSERT INTO {name} (tenant_id, day, {column}, plays, played_ms) "  # noqa: S608
        f"SELECT tenant_id, {day}, {column}, COUNT(*), SUM({played_ms}) FROM plays "
        f"GROUP BY tenant_id, {day}, {column}"
    )


def upgrade() -> None:
    _rollup("play_days_assets", "asset_id")
    _rollup("play_days_devices", "device_id")
    op.drop_index("ix_plays_tenant_started_counts", table_name="plays")


def downgrade() -> None:
    op.create_index(
        "ix_plays_tenant_started_counts",
        "plays",
        ["tenant_id", "started_at", "asset_id", "device_id"],
    )
    op.drop_table("play_days_devices")
    op.drop_table("play_days_assets")
