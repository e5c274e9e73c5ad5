"""Proof of play: which assets a play may name, and the idempotent insert of a batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_api.store.models import Asset, Change, Play
from control_api.store.repository import chunks

# ---------------------------------------------------------------- plays


def play_assets(s: Session, tenant_id: str, asset_ids: Iterable[str]) -> dict[str, str | None]:
    """Which of ``asset_ids`` are the tenant's: id → sha256 for its assets, id → None
    for assets it deleted that the change log still names (their hash is gone)."""
    wanted = sorted(set(asset_ids))
    known: dict[str, str | None] = {}
    for chunk in chunks(wanted):
        for row in s.execute(
            select(Asset.id, Asset.sha256).where(Asset.tenant_id == tenant_id, Asset.id.in_(chunk))
        ):
            known[row.id] = row.sha256
    missing = [a for a in wanted if a not in known]
    for chunk in chunks(missing):
        known.update(
            (asset_id, None)
            for asset_id in s.scalars(
                select(Change.object_id)
                .where(
                    Change.tenant_id == tenant_id,
                    Change.kind == "asset",
                    Change.deleted.is_(True),
                    Change.object_id.in_(chunk),
                )
                .distinct()
            )
        )
    return known


def ingest_plays(
    s: Session, tenant_id: str, device_id: str, plays: Sequence[dict[str, Any]], now: datetime
) -> tuple[int, int]:
    """Insert new plays, ignore known ids. Returns (accepted, duplicates).

    The plays are valid (``core.plays.parse_play``) with canonical ids."""
    unique: dict[str, dict[str, Any]] = {}
    for play in plays:
        unique.setdefault(play["id"], play)
    known: set[str] = set()
    for chunk in chunks(sorted(unique)):
        known.update(
            s.scalars(select(Play.id).where(Play.tenant_id == tenant_id, Play.id.in_(chunk)))
        )
    rows = [
        {**play, "tenant_id": tenant_id, "device_id": device_id, "received_at": now}
        for play_id, play in unique.items()
        if play_id not in known
    ]
    if rows:
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        # A concurrent upload of the same batch must not fail: first writer wins.
        s.execute(insert(Play).on_conflict_do_nothing(), rows)
    return len(rows), len(plays) - len(rows)
