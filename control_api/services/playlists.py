"""Playlists: create, list, read, replace (If-Match), delete; find by name (a form's picker)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from control_api.core import validation as v
from control_api.errors import Conflict, InvalidField
from control_api.services.overrides import purge_ended
from control_api.services.pages import Page
from control_api.store import content
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Playlist, PlaylistItem

Items = Sequence[tuple[str, int | None]]  # (asset id, duration_ms or None)


@dataclass(frozen=True)
class PlaylistRecord:
    playlist: Playlist
    items: Sequence[PlaylistItem]

    @property
    def version(self) -> int:
        return self.playlist.version


def _record(s: Session, playlist: Playlist) -> PlaylistRecord:
    s.flush()
    return PlaylistRecord(playlist, content.playlist_items(s, [playlist.id])[playlist.id])


def list_playlists(
    db: Database, tenant_id: str, limit: int, after: str | None
) -> Page[PlaylistRecord]:
    with db.read() as s:
        rows, nxt = repo.page_by_id(s, Playlist, tenant_id, limit, after)
        items = content.playlist_items(s, [p.id for p in rows])
    return Page([PlaylistRecord(p, items[p.id]) for p in rows], nxt)


@dataclass(frozen=True)
class ItemLength:
    """What an item's play length is made of (PROTOCOL, Playlists)."""

    duration_ms: int | None  # the item's: an image's time, a cap for audio/video
    media_type: str
    asset_duration_ms: int | None


@dataclass(frozen=True)
class PlaylistSummary:
    playlist: Playlist
    items: Sequence[ItemLength]


def list_playlist_summaries(
    db: Database, tenant_id: str, limit: int, after: str | None
) -> Page[PlaylistSummary]:
    """:func:`list_playlists` with, for each item, what its length is made of (plain
    rows, one query per page: no asset objects)."""
    with db.read() as s:
        rows, nxt = repo.page_by_id(s, Playlist, tenant_id, limit, after)
        items = content.playlist_item_lengths(s, [p.id for p in rows])
    summaries = [
        PlaylistSummary(
            p,
            [ItemLength(i.duration_ms, i.media_type, i.asset_duration_ms) for i in items[p.id]],
        )
        for p in rows
    ]
    return Page(summaries, nxt)


@dataclass(frozen=True)
class PlaylistChoices:
    """(id, name) pairs by name; ``more`` when more matched than were listed."""

    items: list[tuple[str, str]]
    more: bool


def playlist_choices(
    db: Database, tenant_id: str, limit: int, *, text: str | None = None
) -> PlaylistChoices:
    """The first ``limit`` playlists by name whose name contains ``text`` (or whose id
    it is); every playlist without it."""
    with db.read() as s:
        rows = content.playlist_choices(s, tenant_id, text, limit + 1)
    return PlaylistChoices(rows[:limit], len(rows) > limit)


def resolve_playlist(
    db: Database, tenant_id: str, given: str, field: str = "playlist_id"
) -> tuple[str, str]:
    """The one playlist of the tenant that ``given`` names, as (id, name): its id, or
    else its name (exact; else but for case). InvalidField ``field`` when it names
    none, or a name several playlists share (their ids tell them apart)."""
    given = given.strip()
    if not given:
        raise InvalidField(field, "choose a playlist")
    shown = given if len(given) <= 80 else f"{given[:80]}…"
    with db.read() as s:
        named = content.playlists_named(s, tenant_id, given, 2)
        exact = s.get(Playlist, given) if "\x00" not in given else None
    if exact is not None and exact.tenant_id == tenant_id:
        return exact.id, exact.name
    if len(named) > 1:
        raise InvalidField(
            field,
            f"several playlists are named {shown!r}: choose one from the suggestions"
            " (each is listed with its own id)",
            "ambiguous_playlist",
        )
    if not named:
        raise InvalidField(field, f"no playlist is named {shown!r}", "unknown_playlist")
    return named[0]


def playlist_names(db: Database, tenant_id: str, playlist_ids: Iterable[str]) -> dict[str, str]:
    """The tenant's playlists among ``playlist_ids`` -> their name; others left out."""
    wanted = set(playlist_ids)
    if not wanted:
        return {}
    with db.read() as s:
        return {p.id: p.name for p in content.load_by_ids(s, Playlist, tenant_id, wanted)}


def get_playlist(db: Database, tenant_id: str, playlist_id: str) -> PlaylistRecord:
    with db.read() as s:
        return _record(s, content.get_playlist(s, tenant_id, playlist_id))


def create_playlist(
    db: Database,
    tenant_id: str,
    name: str,
    items: Items,
    *,
    now: datetime,
    keep_revisions: int,
    crossfade_ms: int = 0,
) -> PlaylistRecord:
    """Every item's asset must be the tenant's (InvalidField ``items[i].asset_id``)."""
    playlist = Playlist(
        id=repo.new_id("pl"),
        tenant_id=tenant_id,
        name=name,
        version=1,
        crossfade_ms=crossfade_ms,
        created_at=now,
        updated_at=now,
    )
    with db.write() as s:
        s.add(playlist)
        s.flush()
        content.set_playlist_items(s, tenant_id, playlist.id, items)
        repo.record_changes(s, tenant_id, [("playlist", playlist.id, False)], keep_revisions)
        return _record(s, playlist)


def replace_playlist(
    db: Database,
    tenant_id: str,
    playlist_id: str,
    name: str,
    items: Items,
    *,
    if_match: str | None,
    now: datetime,
    keep_revisions: int,
    crossfade_ms: int | None = None,
) -> PlaylistRecord:
    """VersionMismatch when ``if_match`` names another version (None: last writer wins).
    ``crossfade_ms`` None keeps the playlist's (the panel's editor does not show it)."""
    with db.write() as s:
        playlist = content.get_playlist(s, tenant_id, playlist_id, for_update=True)
        v.check_if_match(if_match, playlist.version)
        playlist.name = name
        if crossfade_ms is not None:
            playlist.crossfade_ms = crossfade_ms
        playlist.version += 1
        playlist.updated_at = now
        content.set_playlist_items(s, tenant_id, playlist.id, items)
        repo.record_changes(s, tenant_id, [("playlist", playlist.id, False)], keep_revisions)
        return _record(s, playlist)


def delete_playlist(
    db: Database,
    tenant_id: str,
    playlist_id: str,
    *,
    if_match: str | None,
    keep_revisions: int,
    now: datetime,
) -> None:
    """Conflict ``playlist_in_use`` while a schedule or an override that has not ended
    plays it (ended overrides of it are deleted with it)."""
    with db.write() as s:
        playlist = content.get_playlist(s, tenant_id, playlist_id, for_update=True)
        v.check_if_match(if_match, playlist.version)
        if content.playlist_scheduled(s, playlist.id):
            raise Conflict("a schedule uses this playlist", "playlist_in_use")
        ended = purge_ended(s, tenant_id, now, playlist_id=playlist.id)
        s.flush()
        if content.playlist_overridden(s, playlist.id):
            raise Conflict("an override uses this playlist", "playlist_in_use")
        content.set_playlist_items(s, tenant_id, playlist.id, [])
        s.delete(playlist)
        repo.record_changes(s, tenant_id, [*ended, ("playlist", playlist_id, True)], keep_revisions)
