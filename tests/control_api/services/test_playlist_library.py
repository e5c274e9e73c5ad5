"""The services the panel's playlist editor reads: the library search and the lengths of
a page of playlists (SQLite, and PostgreSQL when LOMUZ_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from datetime import UTC, datetime

from control_api.services import assets, playlists
from control_api.store import repository as repo
from tests.control_api.conftest import Api
from tests.control_api.media_samples import png, wav


def _tenant(api: Api, name: str = "shop") -> tuple[str, str]:
    with api.db.write() as s:
        return repo.create_tenant(s, name, datetime.now(UTC))


def test_text_matches_title_or_filename_case_insensitively(api: Api) -> None:
    tenant_id, admin = _tenant(api)
    _, other_admin = _tenant(api, "other")
    song = api.upload(admin, wav(b"1"), title="Morning SONG", filename="a.wav").json
    named = api.upload(admin, wav(b"2"), filename="song-of-spring.wav").json
    literal = api.upload(admin, wav(b"3"), title="50% off_today").json
    api.upload(admin, wav(b"4"), title="Jingle", filename="jingle.wav")
    api.upload(other_admin, wav(b"5"), title="Their song")

    def found(text: str | None) -> set[str]:
        page = assets.list_assets(api.db, tenant_id, 100, None, text=text)
        return {a.id for a in page.items}

    assert found("song") == {song["id"], named["id"]}
    assert found("%") == {literal["id"]}  # LIKE wildcards are literal
    assert found("f_t") == {literal["id"]}
    assert found("_") == {literal["id"]}
    assert len(found(None)) == 4
    first = assets.list_assets(api.db, tenant_id, 1, None, text="song")
    second = assets.list_assets(api.db, tenant_id, 1, first.next, text="song")
    assert {first.items[0].id, second.items[0].id} == {song["id"], named["id"]}
    assert second.next is None


def test_playlist_summaries_carry_what_each_items_length_is_made_of(api: Api) -> None:
    tenant_id, admin = _tenant(api)
    song = api.upload(admin, wav(b"s", min_samples=8000), title="Song").json
    poster = api.upload(admin, png(b"p"), "image/png", title="Poster").json
    items = [{"asset_id": poster["id"], "duration_ms": 4000}, {"asset_id": song["id"]}]
    made = api.call("POST", "/v1/playlists", admin, json={"name": "Mixed", "items": items}).json
    page = playlists.list_playlist_summaries(api.db, tenant_id, 10, None)
    [summary] = page.items
    assert summary.playlist.id == made["id"]
    assert [(i.duration_ms, i.media_type, i.asset_duration_ms) for i in summary.items] == [
        (4000, "image", None),
        (None, "audio", 1000),
    ]
    assert assets.assets_by_id(api.db, tenant_id, [song["id"], "ast_nope"]).keys() == {song["id"]}
