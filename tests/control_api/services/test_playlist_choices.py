"""Finding a playlist by what a director typed (``services.playlists``): by name part
with LIKE wildcards literal and NUL harmless, by id, and one playlist or a clear refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from control_api.errors import InvalidField
from control_api.services import playlists
from control_api.store import repository as repo
from control_api.store.db import Database

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _tenant_with(db: Database, names: list[str]) -> tuple[str, list[str]]:
    with db.write() as s:
        tenant_id = repo.create_tenant(s, "shop", NOW)[0]
    ids = [
        playlists.create_playlist(db, tenant_id, name, [], now=NOW, keep_revisions=100).playlist.id
        for name in names
    ]
    return tenant_id, ids


def test_choices_search_names_by_part_and_ids_whole(db: Database) -> None:
    tenant, (morning, percent, night) = _tenant_with(db, ["Morning", "100% hits", "Night"])
    assert playlists.playlist_choices(db, tenant, 10).items == [
        (percent, "100% hits"), (morning, "Morning"), (night, "Night"),
    ]  # fmt: skip
    assert playlists.playlist_choices(db, tenant, 10, text="NING").items == [(morning, "Morning")]
    assert playlists.playlist_choices(db, tenant, 10, text="%").items == [(percent, "100% hits")]
    assert playlists.playlist_choices(db, tenant, 10, text="_").items == []
    assert playlists.playlist_choices(db, tenant, 10, text="a\x00b").items == []
    assert playlists.playlist_choices(db, tenant, 10, text=night).items == [(night, "Night")]
    first = playlists.playlist_choices(db, tenant, 2)
    assert len(first.items) == 2 and first.more


def test_resolve_takes_an_id_or_one_name_and_refuses_the_rest(db: Database) -> None:
    tenant, (one, two, solo) = _tenant_with(db, ["Same", "Same", "Solo"])
    assert playlists.resolve_playlist(db, tenant, f" {two} ") == (two, "Same")
    assert playlists.resolve_playlist(db, tenant, "solo") == (solo, "Solo")
    for typed, says in [
        ("Same", "several playlists are named 'Same'"),
        ("Nothing", "no playlist is named 'Nothing'"),
        ("Solo\x00", "no playlist is named"),
        ("   ", "choose a playlist"),
    ]:
        with pytest.raises(InvalidField) as refused:
            playlists.resolve_playlist(db, tenant, typed)
        assert refused.value.field == "playlist_id" and says in refused.value.message
    assert one != two
