"""``CatalogueStore``: the device's assets, playlists, schedules and overrides, as manifests
set them.

``apply_manifest`` applies a full or delta manifest in one transaction and
garbage-collects what no schedule or override reaches; each applied manifest bumps the
catalogue revision (``stored_revision``), which ``Decisions`` keys its cache on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, bindparam, delete, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lomuz_rules import schedule as rules
from lomuz_rules.model import MINUTES_PER_DAY, Asset, Override, Playlist, PlaylistItem, Schedule
from player.core.files import FileNeed
from player.core.model import Manifest
from player.errors import ManifestError
from player.store import tables as t
from player.store.database import Database, check_sha256, chunks, get_state, set_state
from player.store.device_state import stored_timezone, write_manifest_state
from player.store.rotation import stored_last_asset
from player.store.rows import (
    asset_from_row,
    asset_to_row,
    file_from_row,
    override_from_row,
    override_to_row,
    schedule_from_row,
    schedule_to_row,
)

KEY_REVISION = "catalogue.revision"


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply_manifest`` changed (removed includes garbage-collected rows)."""

    full: bool
    cursor: str
    assets_upserted: int
    assets_removed: int
    playlists_upserted: int
    playlists_removed: int
    schedules_upserted: int
    schedules_removed: int
    overrides_upserted: int = 0
    overrides_removed: int = 0


class CatalogueStore:
    """Assets, playlists, schedules and the files they reference."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def apply_manifest(self, manifest: Manifest) -> ApplyResult:
        """Apply a full or delta manifest in one transaction, then garbage-collect.

        Raises ``ManifestError`` (and changes nothing) when a playlist item or a
        schedule would refer to something absent after applying.
        """
        _validate_manifest(manifest)
        self._db.flush_deferred()
        with self._db.write() as conn:
            before = _id_sets(conn)
            if manifest.full:
                conn.execute(delete(t.schedules))
                conn.execute(delete(t.overrides))
                conn.execute(delete(t.playlist_items))
                conn.execute(delete(t.playlists))
                conn.execute(delete(t.assets))
            else:
                _delete_ids(conn, t.schedules.c.id, manifest.deleted.schedules)
                _delete_ids(conn, t.overrides.c.id, manifest.deleted.overrides)
                _delete_ids(conn, t.playlists.c.id, manifest.deleted.playlists)
                _delete_ids(conn, t.assets.c.id, manifest.deleted.assets)
            _upsert_assets(conn, manifest.assets)
            _upsert_playlists(conn, manifest.playlists)
            _restore_item_rotation(conn, [p.id for p in manifest.playlists])
            _upsert_schedules(conn, manifest.schedules)
            _upsert(conn, t.overrides, [override_to_row(o) for o in manifest.overrides])
            _collect_garbage(conn)
            _check_references(conn)
            after = _id_sets(conn)
            revision = int(get_state(conn, KEY_REVISION) or "0") + 1
            set_state(conn, KEY_REVISION, str(revision))
            write_manifest_state(conn, manifest)
        return ApplyResult(
            full=manifest.full,
            cursor=manifest.cursor,
            assets_upserted=len(manifest.assets),
            assets_removed=len(before[0] - after[0]),
            playlists_upserted=len(manifest.playlists),
            playlists_removed=len(before[1] - after[1]),
            schedules_upserted=len(manifest.schedules),
            schedules_removed=len(before[2] - after[2]),
            overrides_upserted=len(manifest.overrides),
            overrides_removed=len(before[3] - after[3]),
        )

    def referenced_files(self) -> list[FileNeed]:
        """Every file the catalogue references, one entry per sha256."""
        query = (
            select(
                t.assets.c.sha256,
                t.assets.c.size_bytes,
                t.assets.c.url,
                t.assets.c.id,
                t.assets.c.emergency,
                t.files.c.present,
            )
            .select_from(t.assets.outerjoin(t.files, t.files.c.sha256 == t.assets.c.sha256))
            .order_by(t.assets.c.sha256, t.assets.c.id)
        )
        needs: list[FileNeed] = []
        with self._db.read() as conn:
            for row in conn.execute(query):
                if needs and needs[-1].sha256 == row.sha256:
                    prev = needs[-1]
                    needs[-1] = FileNeed(
                        sha256=prev.sha256,
                        size_bytes=prev.size_bytes,
                        url=prev.url,
                        asset_ids=(*prev.asset_ids, row.id),
                        present=prev.present,
                        emergency=prev.emergency or bool(row.emergency),
                    )
                else:
                    needs.append(
                        FileNeed(
                            sha256=row.sha256,
                            size_bytes=row.size_bytes,
                            url=row.url,
                            asset_ids=(row.id,),
                            present=bool(row.present),
                            emergency=bool(row.emergency),
                        )
                    )
        return needs

    def all_assets(self) -> list[Asset]:
        with self._db.read() as conn:
            return load_assets(conn)

    def all_playlists(self) -> list[Playlist]:
        with self._db.read() as conn:
            return load_playlists(conn)

    def all_schedules(self) -> list[Schedule]:
        with self._db.read() as conn:
            return load_schedules(conn)

    def all_overrides(self) -> list[Override]:
        with self._db.read() as conn:
            return load_overrides(conn)

    def snapshot(self) -> rules.Catalogue:
        """Everything ``lomuz_rules.schedule.decide`` consumes, read consistently."""
        with self._db.read() as conn:
            rotation = {
                (row.playlist_id, row.position, row.asset_id): row.last_played_at
                for row in conn.execute(select(t.rotation))
            }
            return rules.Catalogue(
                timezone=stored_timezone(conn),
                assets={a.id: a for a in load_assets(conn)},
                playlists={p.id: p for p in load_playlists(conn)},
                schedules=tuple(load_schedules(conn)),
                overrides=tuple(load_overrides(conn)),
                files={row.sha256: file_from_row(row) for row in conn.execute(select(t.files))},
                rotation=rotation,
                last_asset_id=stored_last_asset(conn)[0],
            )


def stored_revision(conn: Connection) -> str | None:
    """The catalogue revision: bumped by every applied manifest (by any process)."""
    return get_state(conn, KEY_REVISION)


def _duplicates(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for item_id in ids:
        if item_id in seen:
            dups.append(item_id)
        seen.add(item_id)
    return dups


def _validate_manifest(manifest: Manifest) -> None:
    """Checks the store relies on; wire.py validates the JSON shape first."""
    for name, ids in (
        ("assets", [a.id for a in manifest.assets]),
        ("playlists", [p.id for p in manifest.playlists]),
        ("schedules", [s.id for s in manifest.schedules]),
        ("overrides", [o.id for o in manifest.overrides]),
    ):
        dups = _duplicates(ids)
        if dups:
            raise ManifestError(f"duplicate id {dups[0]!r}", path=name)
    try:
        ZoneInfo(manifest.device.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ManifestError(
            f"unknown time zone {manifest.device.timezone!r}", path="device.timezone"
        ) from exc
    for index, asset in enumerate(manifest.assets):
        try:
            check_sha256(asset.sha256)
        except ValueError as exc:
            raise ManifestError(str(exc), path=f"assets[{index}].sha256") from exc
    for index, sched in enumerate(manifest.schedules):
        path = f"schedules[{index}]"
        if not 0 <= sched.start_minute < MINUTES_PER_DAY:
            raise ManifestError(f"start_minute {sched.start_minute} out of range", path=path)
        if not 0 <= sched.end_minute <= MINUTES_PER_DAY:
            raise ManifestError(f"end_minute {sched.end_minute} out of range", path=path)
        if not sched.days <= set(range(1, 8)):
            raise ManifestError(f"days {sorted(sched.days)} not ISO weekdays 1..7", path=path)
        if sched.created_at.tzinfo is None:
            raise ManifestError("created_at is not timezone-aware", path=path)
    for index, override in enumerate(manifest.overrides):
        if override.created_at.tzinfo is None or override.until.tzinfo is None:
            raise ManifestError("instants are not timezone-aware", path=f"overrides[{index}]")


def _id_sets(conn: Connection) -> tuple[set[str], set[str], set[str], set[str]]:
    return (
        set(conn.execute(select(t.assets.c.id)).scalars()),
        set(conn.execute(select(t.playlists.c.id)).scalars()),
        set(conn.execute(select(t.schedules.c.id)).scalars()),
        set(conn.execute(select(t.overrides.c.id)).scalars()),
    )


def _delete_ids(conn: Connection, column: Any, ids: Sequence[str]) -> None:
    for chunk in chunks(ids):
        conn.execute(delete(column.table).where(column.in_(chunk)))


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = sqlite_insert(table)
    key = list(table.primary_key.columns)
    set_ = {c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key}
    conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=set_), rows)


def _upsert_assets(conn: Connection, assets: Sequence[Asset]) -> None:
    _upsert(conn, t.assets, [asset_to_row(a) for a in assets])


def _upsert_playlists(conn: Connection, playlists: Sequence[Playlist]) -> None:
    _upsert(
        conn,
        t.playlists,
        [
            {"id": p.id, "name": p.name, "version": p.version, "crossfade_ms": p.crossfade_ms}
            for p in playlists
        ],
    )
    _delete_ids(conn, t.playlist_items.c.playlist_id, [p.id for p in playlists])
    items = [
        {
            "playlist_id": p.id,
            "position": pos,
            "asset_id": item.asset_id,
            "duration_ms": item.duration_ms,
        }
        for p in playlists
        for pos, item in enumerate(p.items)
    ]
    if items:
        conn.execute(t.playlist_items.insert(), items)


def _upsert_schedules(conn: Connection, schedules: Sequence[Schedule]) -> None:
    _upsert(conn, t.schedules, [schedule_to_row(s) for s in schedules])


def _restore_item_rotation(conn: Connection, playlist_ids: Sequence[str]) -> None:
    """Copy rotation onto freshly written items whose position kept its asset."""
    for chunk in chunks(playlist_ids):
        conn.execute(
            text(
                "UPDATE playlist_items SET last_played_at = (SELECT r.last_played_at "
                "FROM rotation AS r WHERE r.playlist_id = playlist_items.playlist_id "
                "AND r.position = playlist_items.position "
                "AND r.asset_id = playlist_items.asset_id) "
                "WHERE playlist_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": list(chunk)},
        )


def _collect_garbage(conn: Connection) -> None:
    """A device's state is its schedules and overrides, their playlists and assets, and
    emergency assets."""
    conn.exec_driver_sql(
        "DELETE FROM playlists WHERE id NOT IN (SELECT playlist_id FROM schedules) "
        "AND id NOT IN (SELECT playlist_id FROM overrides)"
    )
    conn.exec_driver_sql(
        "DELETE FROM assets WHERE emergency = 0 AND id NOT IN (SELECT asset_id FROM playlist_items)"
    )
    conn.exec_driver_sql(
        "DELETE FROM rotation WHERE NOT EXISTS (SELECT 1 FROM playlist_items AS pi "
        "WHERE pi.playlist_id = rotation.playlist_id AND pi.position = rotation.position "
        "AND pi.asset_id = rotation.asset_id)"
    )


def _check_references(conn: Connection) -> None:
    dangling_item = conn.exec_driver_sql(
        "SELECT pi.playlist_id, pi.position, pi.asset_id FROM playlist_items AS pi "
        "LEFT JOIN assets AS a ON a.id = pi.asset_id WHERE a.id IS NULL "
        "ORDER BY pi.playlist_id, pi.position LIMIT 1"
    ).first()
    if dangling_item is not None:
        playlist_id, position, asset_id = dangling_item
        raise ManifestError(
            f"playlist {playlist_id!r} item {position} refers to asset {asset_id!r}, "
            "which the device state does not contain",
            path="playlists",
        )
    dangling_schedule = conn.exec_driver_sql(
        "SELECT s.id, s.playlist_id FROM schedules AS s "
        "LEFT JOIN playlists AS p ON p.id = s.playlist_id WHERE p.id IS NULL "
        "ORDER BY s.id LIMIT 1"
    ).first()
    if dangling_schedule is not None:
        schedule_id, playlist_id = dangling_schedule
        raise ManifestError(
            f"schedule {schedule_id!r} refers to playlist {playlist_id!r}, "
            "which the device state does not contain",
            path="schedules",
        )
    dangling_override = conn.exec_driver_sql(
        "SELECT o.id, o.playlist_id FROM overrides AS o "
        "LEFT JOIN playlists AS p ON p.id = o.playlist_id WHERE p.id IS NULL "
        "ORDER BY o.id LIMIT 1"
    ).first()
    if dangling_override is not None:
        override_id, playlist_id = dangling_override
        raise ManifestError(
            f"override {override_id!r} refers to playlist {playlist_id!r}, "
            "which the device state does not contain",
            path="overrides",
        )


def load_assets(conn: Connection) -> list[Asset]:
    return [asset_from_row(row) for row in conn.execute(select(t.assets).order_by(t.assets.c.id))]


def load_playlists(conn: Connection) -> list[Playlist]:
    items: dict[str, list[PlaylistItem]] = {}
    for row in conn.execute(
        select(t.playlist_items).order_by(
            t.playlist_items.c.playlist_id, t.playlist_items.c.position
        )
    ):
        items.setdefault(row.playlist_id, []).append(PlaylistItem(row.asset_id, row.duration_ms))
    return [
        Playlist(
            id=row.id,
            name=row.name,
            items=tuple(items.get(row.id, ())),
            version=row.version,
            crossfade_ms=row.crossfade_ms,
        )
        for row in conn.execute(select(t.playlists).order_by(t.playlists.c.id))
    ]


def load_schedules(conn: Connection) -> list[Schedule]:
    return [
        schedule_from_row(row)
        for row in conn.execute(select(t.schedules).order_by(t.schedules.c.id))
    ]


def load_overrides(conn: Connection) -> list[Override]:
    return [
        override_from_row(row)
        for row in conn.execute(select(t.overrides).order_by(t.overrides.c.id))
    ]
