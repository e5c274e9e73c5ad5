"""Migration 0016 (issue 14): assets that existed before are left pending; down and up."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from control_api.store.db import MIGRATIONS_DIR, Database


def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_existing_audio_and_video_are_pending_images_not_and_down_drops_it_all(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        _migrate(db, "0015")
        now = datetime.now(UTC).replace(tzinfo=None)
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tenants (id, name, revision, horizon, created_at)"
                    " VALUES ('ten_a', 'A', 0, 0, :now)"
                ),
                {"now": now},
            )
            for n, media_type in enumerate(("audio", "video", "image")):
                conn.execute(
                    text(
                        "INSERT INTO assets (id, tenant_id, sha256, size_bytes, media_type,"
                        " content_type, emergency, created_at, updated_at) VALUES"
                        " (:id, 'ten_a', :sha, 10, :mt, 'x/y', false, :now, :now)"
                    ),
                    {"id": f"ast_{media_type}", "sha": f"{n}" * 64, "mt": media_type, "now": now},
                )
            conn.execute(
                text(
                    "INSERT INTO playlists (id, tenant_id, name, version, created_at, updated_at)"
                    " VALUES ('pl_a', 'ten_a', 'p', 1, :now, :now)"
                ),
                {"now": now},
            )
        db.upgrade()
        with db.engine.connect() as conn:
            states = dict(conn.execute(text("SELECT id, measure_state FROM assets")).all())
            attempts = set(conn.scalars(text("SELECT measure_attempts FROM assets")))
            crossfade = conn.scalar(text("SELECT crossfade_ms FROM playlists"))
        assert states == {"ast_audio": "pending", "ast_video": "pending", "ast_image": None}
        assert attempts == {0} and crossfade == 0
        _migrate(db, "0015", down=True)
        with db.engine.connect() as conn:
            inspector = sa_inspect(conn)
            asset_columns = {c["name"] for c in inspector.get_columns("assets")}
            playlist_columns = {c["name"] for c in inspector.get_columns("playlists")}
            indexes = {i["name"] for i in inspector.get_indexes("assets")}
            kept = conn.scalar(text("SELECT count(*) FROM assets"))
        assert not {c for c in asset_columns if "measure" in c or "loud" in c or "cue" in c}
        assert "crossfade_ms" not in playlist_columns
        assert "ix_assets_measure_due" not in indexes
        assert kept == 3
        db.upgrade()
    finally:
        db.dispose()
