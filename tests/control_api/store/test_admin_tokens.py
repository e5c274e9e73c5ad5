"""Admin tokens' stored prefix: the migration that adds it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text

from control_api.store import repository as repo
from control_api.store.db import MIGRATIONS_DIR, Database
from control_api.store.models import AdminToken, Base


def _upgrade(db: Database, target: str) -> None:
    with db.engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_a_token_from_before_the_prefix_keeps_working_and_is_revocable_whole(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        _upgrade(db, "0001")
        now = datetime.now(UTC)
        old = "an-admin-token-issued-by-version-0001"
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tenants (id, name, revision, horizon, created_at)"
                    " VALUES ('ten_old', 'Old', 0, 0, :now)"
                ),
                {"now": now.replace(tzinfo=None)},
            )
            conn.execute(
                text(
                    "INSERT INTO admin_tokens (token_hash, tenant_id, created_at)"
                    " VALUES (:h, 'ten_old', :now)"
                ),
                {"h": repo.hash_secret(old), "now": now.replace(tzinfo=None)},
            )
        db.upgrade()
        with db.read() as s:
            principal = repo.lookup_token(s, repo.hash_secret(old))
            assert principal is not None and principal.tenant_id == "ten_old"
            assert repo.admin_tokens_matching(s, "ten_old", old[:8]) == []  # no prefix kept
            [whole] = repo.admin_tokens_matching(s, "ten_old", old)
        with db.write() as s:
            new = repo.issue_admin_token(s, "ten_old", now)
            assert repo.revoke_admin_token(s, whole) == 1
        with db.read() as s:
            assert repo.lookup_token(s, repo.hash_secret(old)) is None
            [kept] = s.query(AdminToken).all()
            assert kept.prefix == new[: repo.TOKEN_PREFIX_CHARS]
    finally:
        db.dispose()


def test_admin_tokens_never_start_with_a_dash(database_url: str) -> None:
    """``token revoke -AbC…`` would be an unknown option: such tokens are not handed out."""
    db = Database(database_url)
    try:
        db.upgrade()
        with db.write() as s:
            tenant_id, first = repo.create_tenant(s, "Shop", datetime.now(UTC))
            tokens = [first] + [
                repo.issue_admin_token(s, tenant_id, datetime.now(UTC)) for _ in range(400)
            ]
        assert not [t for t in tokens if t.startswith("-")]
        with db.read() as s:
            stored = {t.prefix for t in s.query(AdminToken).all()}
        assert stored == {t[: repo.TOKEN_PREFIX_CHARS] for t in tokens}
    finally:
        db.dispose()
