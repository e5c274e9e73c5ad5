"""Alembic environment for the player's database.

Run only through ``player.store.migrate``, which hands over an open connection
in ``config.attributes["connection"]``; there is no alembic.ini and no URL.
"""

from __future__ import annotations

from alembic import context

from player.store.tables import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported for the player database")
run_migrations_online()
