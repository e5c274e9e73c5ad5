"""The services' tests' database: migrated, on SQLite and PostgreSQL (``database_url``
is parametrised over both; PostgreSQL when LOMUZ_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_api.store.db import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()
