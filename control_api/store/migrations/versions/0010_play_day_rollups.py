"""Plays counted ahead per UTC day: per tenant, per asset and per device.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00

The Plays page counted a range's plays three ways (GROUP BY day, asset, device)
over the plays themselves: linear in the plays, ~0.5 s for 7 days of a tenant
with 1M plays a month. Ingest now adds each inserted play to three rollups, read
instead. Narrow tables, not one per (day, asset, device): a device plays
most of its assets a few times a day, so that key holds about as many rows as
plays (594,000 for 1M plays over 30 days in the bench); per (day, asset) and
(day, device) they are bounded by assets x days and devices x days (124,000
and 150,000), and per day there is one row a day.

The upgrade fills them from the stored plays (one GROUP BY each) so an upgraded
database shows the same charts. Each play counts ``ended_at - started_at``
floored to the millisecond, as ``store.plays.played_ms`` does (this SQL is
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


def _rollup(name: str, column: str | None) -> None:
    """The table ``name`` keyed by (tenant_id, day[, column]), filled from the plays."""
    keys = ["tenant_id", "day"] if column is None else ["tenant_id", "day", column]
    op.create_table(
        name,
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *([] if column is None else [sa.Column(column, sa.String(40), nullable=False)]),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*keys, name=op.f(f"pk_{name}")),
        # SQLite: the rows live in the primary key's b-tree, so a range of days is
        # one scan that reads no second structure.
        sqlite_with_rowid=False,
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day, played_ms = (_PG_DAY, _PG_MS) if postgres else (_SQLITE_DAY, _SQLITE_MS)
    # Every part of the statement is a constant of this module (no input).
    columns = "tenant_id, day" if column is None else f"tenant_id, day, {column}"
    values = f"tenant_id, {day}" if column is None else f"tenant_id, {day}, {column}"
    op.execute(
        f"INSERT INTO {name} ({columns}, plays, played_ms) "  # noqa: S608
        f"SELECT {values}, COUNT(*), SUM({played_ms}) FROM plays GROUP BY {values}"
    )


def upgrade() -> None:
    _rollup("play_days", None)
    _rollup("play_days_assets", "asset_id")
    _rollup("play_days_devices", "device_id")
    if op.get_bind().dialect.name == "postgresql":
        # Without statistics the planner takes the new tables for empty and sorts a
        # month's rows on disk (~200 ms) instead of hashing them (~40 ms), until
        # autovacuum's first analyze.
        op.execute("ANALYZE play_days, play_days_assets, play_days_devices")
    op.drop_index("ix_plays_tenant_started_counts", table_name="plays")


def downgrade() -> None:
    op.create_index(
        "ix_plays_tenant_started_counts",
        "plays",
        ["tenant_id", "started_at", "asset_id", "device_id"],
    )
    op.drop_table("play_days_devices")
    op.drop_table("play_days_assets")
    op.drop_table("play_days")
