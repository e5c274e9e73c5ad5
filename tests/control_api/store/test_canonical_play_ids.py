"""Migration 0003: stored play ids take their canonical spelling; spellings of one
play stored twice become one play."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select

from control_api.store.db import MIGRATIONS_DIR, Database
from control_api.store.models import Play, Tenant


def _upgrade(db: Database, revision: str) -> None:
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_play_ids_are_canonicalised_and_spellings_merged(database_url: str) -> None:
    db = Database(database_url)
    try:
        _upgrade(db, "0002")
        now = datetime(2026, 3, 1, 10, tzinfo=UTC)
        twice, once, fine = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        ids = [str(twice).upper(), f"{{{twice}}}", once.hex, str(fine), "not-a-uuid"]
        with db.write() as s:
            s.add(Tenant(id="ten_1", name="shop", revision=0, horizon=0, created_at=now))
            s.flush()
            s.execute(
                insert(Play),
                [
                    {
                        "tenant_id": "ten_1",
                        "id": play_id,
                        "device_id": "dev_1",
                        "asset_id": "ast_1",
                        "sha256": "0" * 64,
                        "started_at": now,
                        "ended_at": now,
                        "source": "playlist",
                        "outcome": "completed",
                        "received_at": now,
                    }
                    for play_id in ids
                ],
            )
        _upgrade(db, "0003")
        with db.read() as s:
            stored = sorted(s.scalars(select(Play.id)))
        assert stored == sorted([str(twice), str(once), str(fine), "not-a-uuid"])
    finally:
        db.dispose()
