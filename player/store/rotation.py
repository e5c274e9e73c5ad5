"""``Rotation``: what started, what is in progress, and each playlist's rotation.

``mark_started`` advances rotation, the file's last play and the last-asset
state when an item starts; ``record_play`` (the outbox's) advances the same
state to the same instant at the item's end, so either alone is enough. The
items started and not yet recorded are remembered as in progress, so a power
cut in between is recorded as a skipped play at the next start
(``recover_interrupted_plays``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lomuz_rules.model import PLAYLIST_TIERS, Tier
from player.core.model import Outcome, Play
from player.errors import StoreFull
from player.store import tables as t
from player.store.database import (
    SHORT_LOCK_WAIT_S,
    Database,
    delete_state,
    get_state,
    set_state,
)
from player.store.decision_query import KEY_LAST_ASSET_AT, KEY_LAST_ASSET_ID
from player.store.deferred import StartedEntry
from player.store.read_only import from_micros, to_micros

if TYPE_CHECKING:
    from player.store.outbox import Outbox

log = logging.getLogger(__name__)

KEY_LAST_STARTED = "rotation.last_started"  # mark_started's item, for record_play
# The items started and not yet recorded (mark_started .. record_play), so a
# power cut in between is recorded as a skipped play at the next start.
KEY_IN_PROGRESS = "playback.in_progress"
_IN_PROGRESS_MAX = 4  # two sound at once at most (a hand-over); more is stale


class Rotation:
    """Starts, in-progress items and rotation; the outbox records what they end as."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db = db
        self._outbox = outbox

    def mark_started(
        self,
        *,
        asset_id: str,
        sha256: str,
        source: Tier,
        started_at: datetime,
        playlist_id: str | None = None,
        playlist_position: int | None = None,
        play_id: str | None = None,
        planned_end_at: datetime | None = None,
        schedule_id: str | None = None,
    ) -> None:
        """An item started: advance rotation and the last-asset state, in one transaction.

        With ``play_id`` and ``planned_end_at`` the same transaction remembers
        the item as in progress until ``record_play`` stores that play id; see
        ``recover_interrupted_plays``.

        The proof of play is written later by ``record_play`` at the item's real
        end; it advances the same state to the same ``started_at``, so calling
        both changes nothing more than either. Idempotent. A crash between the
        two leaves rotation advanced and no outbox row: the item is not played
        again at once, and no play is claimed whose end nobody saw.

        Playback calls this as an item starts, so it never waits long for the
        lock: when another writer holds it past ``SHORT_LOCK_WAIT_S`` (a large
        manifest being applied) the start is kept in memory, as on a full
        disk, and written back, in order, by the next write that can.
        """
        if started_at.tzinfo is None or started_at.utcoffset() is None:
            raise ValueError(f"started_at must be timezone-aware, got {started_at!r}")
        record = None
        if play_id is not None and planned_end_at is not None:
            record = {
                "id": play_id,
                "asset_id": asset_id,
                "sha256": sha256,
                "source": source.value,
                "schedule_id": schedule_id,
                "playlist_id": playlist_id,
                "position": playlist_position,
                "started_us": to_micros(started_at),
                "planned_end_us": to_micros(max(planned_end_at, started_at)),
            }
        entry = StartedEntry(
            asset_id, sha256, source, started_at, playlist_id, playlist_position, record
        )

        def write() -> None:
            with self._db.write(lock_wait_s=SHORT_LOCK_WAIT_S) as conn:
                write_back_started(conn, [entry])

        self._db.write_or_keep(
            write, lambda: self._db.deferred.keep_started(entry), keep_if_busy=True
        )

    def mark_alive(self, at: datetime) -> None:
        """The items in progress still played at ``at``: the best end a power cut leaves.

        One small write; the playback loop calls it at most every minute or
        so. Nothing is written when no item is in progress or while the
        filesystem is full (the start instant then stands).
        """
        if not self._db.deferred.idle() or self._db.stand_in:
            return
        with self._db.read() as conn:
            if get_state(conn, KEY_IN_PROGRESS) is None:
                return
        try:
            with self._db.write() as conn:
                entries = in_progress(conn)
                for entry in entries:
                    entry["alive_us"] = max(int(entry.get("alive_us") or 0), to_micros(at))
                if entries:
                    set_state(conn, KEY_IN_PROGRESS, json.dumps(entries))
        except StoreFull:
            return

    def recover_interrupted_plays(self, known_alive_at: datetime | None = None) -> list[Play]:
        """Record the items a power cut interrupted as ``skipped`` plays; return them.

        Call once at start, before playback. Each play keeps the id the item
        had, so it is stored (and uploaded) exactly once however often this
        runs. Its ``ended_at`` is the last instant the item is known to have
        played: the latest of the persisted "still playing" instant
        (``mark_alive``) and ``known_alive_at`` (e.g. the clock's persisted
        lower bound, an instant the box was alive), never before
        ``started_at`` and never after the item's planned end. Reads only
        when nothing was in progress.
        """
        with self._db.read() as conn:
            if get_state(conn, KEY_IN_PROGRESS) is None:
                return []
        plays: list[Play] = []
        with self._db.write() as conn:
            for entry in in_progress(conn):
                try:
                    play = interrupted_play(entry, known_alive_at)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning(
                        "store: dropping an unreadable in-progress record %r: %s", entry, exc
                    )
                    continue
                position = entry.get("position")
                self._outbox.insert_in(conn, play, position if isinstance(position, int) else None)
                plays.append(play)
            delete_state(conn, KEY_IN_PROGRESS)
            if plays:
                self._outbox.bound_in(conn)
        return plays


def mark_started_in(
    conn: Connection,
    *,
    asset_id: str,
    sha256: str,
    source: Tier,
    started_at: datetime,
    playlist_id: str | None,
    position: int | None,
) -> None:
    """Rotation, the file's last play and the last-asset state, all to ``started_at``."""
    if source in PLAYLIST_TIERS and playlist_id is not None:
        _advance_rotation(conn, playlist_id, asset_id, started_at, position)
    conn.execute(
        update(t.files)
        .where(t.files.c.sha256 == sha256)
        .where((t.files.c.last_played_at.is_(None)) | (t.files.c.last_played_at < started_at))
        .values(last_played_at=started_at)
    )
    last_at = get_state(conn, KEY_LAST_ASSET_AT)
    if last_at is None or int(last_at) <= to_micros(started_at):
        set_state(conn, KEY_LAST_ASSET_ID, asset_id)
        set_state(conn, KEY_LAST_ASSET_AT, str(to_micros(started_at)))


def started_position(conn: Connection, play: Play) -> int | None:
    """The position ``mark_started`` recorded for this very item, if it did."""
    raw = get_state(conn, KEY_LAST_STARTED)
    if raw is None:
        return None
    playlist_id, position, asset_id, started_us = json.loads(raw)
    same = (playlist_id, asset_id, started_us) == (
        play.playlist_id,
        play.asset_id,
        to_micros(play.started_at),
    )
    return position if same and isinstance(position, int) else None


def _advance_rotation(
    conn: Connection, playlist_id: str, asset_id: str, started_at: datetime, position: int | None
) -> None:
    if position is None:
        position = conn.execute(
            text(
                "SELECT pi.position FROM playlist_items AS pi LEFT JOIN rotation AS r "
                "ON r.playlist_id = pi.playlist_id AND r.position = pi.position "
                "AND r.asset_id = pi.asset_id "
                "WHERE pi.playlist_id = :playlist_id AND pi.asset_id = :asset_id "
                "ORDER BY r.last_played_at IS NOT NULL, r.last_played_at, pi.position LIMIT 1"
            ),
            {"playlist_id": playlist_id, "asset_id": asset_id},
        ).scalar()
        if position is None:
            return  # the playlist changed since; nothing to rotate
    else:
        listed = conn.execute(
            select(t.playlist_items.c.asset_id).where(
                t.playlist_items.c.playlist_id == playlist_id,
                t.playlist_items.c.position == position,
            )
        ).scalar()
        if listed != asset_id:
            return
    current = conn.execute(
        select(t.rotation.c.asset_id, t.rotation.c.last_played_at).where(
            t.rotation.c.playlist_id == playlist_id, t.rotation.c.position == position
        )
    ).first()
    if (
        current is not None
        and current.asset_id == asset_id
        and current.last_played_at >= started_at
    ):
        return
    conn.execute(
        update(t.playlist_items)
        .where(
            t.playlist_items.c.playlist_id == playlist_id,
            t.playlist_items.c.position == position,
        )
        .values(last_played_at=started_at)
    )
    stmt = sqlite_insert(t.rotation).values(
        playlist_id=playlist_id,
        position=position,
        asset_id=asset_id,
        last_played_at=started_at,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.rotation.c.playlist_id, t.rotation.c.position],
            set_={"asset_id": asset_id, "last_played_at": started_at},
        )
    )


def in_progress(conn: Connection) -> list[dict[str, Any]]:
    raw = get_state(conn, KEY_IN_PROGRESS)
    if raw is None:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def add_in_progress(conn: Connection, entry: dict[str, Any]) -> None:
    entries = [e for e in in_progress(conn) if e.get("id") != entry["id"]]
    entries.append(entry)
    set_state(conn, KEY_IN_PROGRESS, json.dumps(entries[-_IN_PROGRESS_MAX:]))


def drop_in_progress(conn: Connection, play_id: str) -> None:
    raw = get_state(conn, KEY_IN_PROGRESS)
    if raw is None or play_id not in raw:
        return
    entries = [e for e in in_progress(conn) if e.get("id") != play_id]
    if entries:
        set_state(conn, KEY_IN_PROGRESS, json.dumps(entries))
    else:
        delete_state(conn, KEY_IN_PROGRESS)


def interrupted_play(entry: dict[str, Any], known_alive_at: datetime | None) -> Play:
    started_at = from_micros(int(entry["started_us"]))
    planned_end_at = from_micros(int(entry["planned_end_us"]))
    alive = [started_at]
    if entry.get("alive_us") is not None:
        alive.append(from_micros(int(entry["alive_us"])))
    if known_alive_at is not None:
        alive.append(known_alive_at)
    ended_at = min(planned_end_at, max(alive))
    return Play(
        id=str(entry["id"]),
        asset_id=str(entry["asset_id"]),
        sha256=str(entry["sha256"]),
        started_at=started_at,
        ended_at=max(started_at, ended_at),
        source=Tier(entry["source"]),
        outcome=Outcome.SKIPPED,
        schedule_id=entry.get("schedule_id"),
        playlist_id=entry.get("playlist_id"),
    )


def remember_started(
    conn: Connection,
    playlist_id: str | None,
    position: int | None,
    asset_id: str,
    started_at: datetime,
) -> None:
    """The item ``mark_started`` was told of, so ``record_play`` finds its position."""
    set_state(
        conn, KEY_LAST_STARTED, json.dumps([playlist_id, position, asset_id, to_micros(started_at)])
    )


def write_back_started(conn: Connection, started: list[StartedEntry]) -> None:
    """Starts, in order: ``mark_started``'s write, and the deferred write-back of the
    ones a full filesystem or a busy lock kept in memory."""
    for entry in started:
        mark_started_in(
            conn,
            asset_id=entry.asset_id,
            sha256=entry.sha256,
            source=entry.source,
            started_at=entry.started_at,
            playlist_id=entry.playlist_id,
            position=entry.position,
        )
        if entry.in_progress is not None:
            add_in_progress(conn, entry.in_progress)
    if started:
        last = started[-1]
        remember_started(conn, last.playlist_id, last.position, last.asset_id, last.started_at)


def stored_last_asset(conn: Connection) -> tuple[str | None, int | None]:
    """The last asset started, and its start in microseconds, as stored."""
    at = get_state(conn, KEY_LAST_ASSET_AT)
    return get_state(conn, KEY_LAST_ASSET_ID), None if at is None else int(at)
