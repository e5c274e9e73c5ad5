"""The library's search and the playlists that hold an asset, as the panel's Media
section calls them (SQLite, and PostgreSQL when LOMUZ_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from control_api.errors import NotFound
from control_api.media import LocalMediaStore
from control_api.services import assets, playlists
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.media_samples import wav

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
KEEP = 1000


@pytest.fixture
def media(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


def _tenant(db: Database, name: str = "shop") -> str:
    with db.write() as s:
        return repo.create_tenant(s, name, NOW)[0]


def _asset(db: Database, media: LocalMediaStore, tenant: str, payload: bytes, **fields: str) -> str:
    data = wav(payload)
    return assets.upload(
        db,
        media,
        tenant,
        assets.upload_kind("audio/wav"),
        assets.AssetFields(**fields),  # type: ignore[arg-type]
        body=lambda: (io.BytesIO(data), len(data)),
        now=NOW,
        limits=assets.UploadLimits(100_000, 0),
        keep_revisions=KEEP,
    ).asset.id


def _titles(db: Database, tenant: str, text: str, limit: int = 50) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        page = assets.list_assets(db, tenant, limit, after, text=text)
        found += [a.title or a.filename or "" for a in page.items]
        if page.next is None:
            return sorted(found)
        after = page.next


def test_the_search_matches_title_or_file_name_in_any_case_wildcards_literal(
    db: Database, media: LocalMediaStore
) -> None:
    tenant, other = _tenant(db), _tenant(db, "other")
    _asset(db, media, tenant, b"1", title="Morning 100% Fresh", filename="m.wav")
    _asset(db, media, tenant, b"2", filename="evening_mix.wav")
    _asset(db, media, tenant, b"3", title="Jingle", filename="MORNING-jingle.wav")
    _asset(db, media, other, b"4", title="Morning elsewhere")
    assert _titles(db, tenant, "morning") == ["Jingle", "Morning 100% Fresh"]
    assert _titles(db, tenant, "morning", limit=1) == ["Jingle", "Morning 100% Fresh"]
    assert _titles(db, tenant, "100%") == ["Morning 100% Fresh"]
    assert _titles(db, tenant, "0% f") == ["Morning 100% Fresh"]
    assert _titles(db, tenant, "g%m") == []  # % matches only itself
    assert _titles(db, tenant, "g_m") == ["evening_mix.wav"]
    assert _titles(db, tenant, "gxm") == []  # _ matches only itself
    assert len(_titles(db, tenant, "")) == 3


def test_a_search_holding_nul_matches_nothing_on_every_database(
    db: Database, media: LocalMediaStore
) -> None:
    # PostgreSQL refuses NUL in a query's text; found by the playlist editor's
    # hostile-form test (a 500 from its library search).
    tenant = _tenant(db)
    _asset(db, media, tenant, b"1", title="Morning", filename="m.wav")
    assert _titles(db, tenant, "\x00") == []
    assert _titles(db, tenant, "Morn\x00ing") == []
    assert _titles(db, tenant, "Morning") == ["Morning"]


def test_the_playlists_using_an_asset_are_named_in_order_and_only_the_tenants(
    db: Database, media: LocalMediaStore
) -> None:
    tenant, other = _tenant(db), _tenant(db, "other")
    used = _asset(db, media, tenant, b"used")
    free = _asset(db, media, tenant, b"free")
    for name in ("Noon", "Dawn"):
        playlists.create_playlist(
            db, tenant, name, [(used, None), (used, 5000)], now=NOW, keep_revisions=KEEP
        )
    playlists.create_playlist(db, tenant, "Other", [(free, None)], now=NOW, keep_revisions=KEEP)
    assert [name for _, name in assets.playlists_using(db, tenant, used)] == ["Dawn", "Noon"]
    assert [name for _, name in assets.playlists_using(db, tenant, free)] == ["Other"]
    with pytest.raises(NotFound):
        assets.playlists_using(db, other, used)
