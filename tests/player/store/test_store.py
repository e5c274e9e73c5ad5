"""PlayerStore on real SQLite files: migrations, manifests, plays, file index."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from lomuz_rules.model import Tier
from player.core.model import Deleted, Manifest, Outcome, Play
from player.errors import ManifestError
from player.store import PlayerStore
from player.store.decision_query import (
    SQL_EMERGENCY,
    SQL_NEXT_EDGE,
    SQL_NEXT_ITEMS,
)
from player.store.tables import metadata, to_micros
from tests.player.core.builders import T0, asset, manifest, playlist, schedule, sha


def play(
    asset_id: str,
    at: datetime,
    *,
    playlist_id: str | None = "p",
    schedule_id: str | None = "s",
    source: Tier = Tier.PLAYLIST,
) -> Play:
    return Play(
        id=str(uuid.uuid4()),
        asset_id=asset_id,
        sha256=sha(asset_id),
        started_at=at,
        ended_at=at + timedelta(minutes=3),
        source=source,
        outcome=Outcome.COMPLETED,
        schedule_id=schedule_id,
        playlist_id=playlist_id,
    )


def state_of(store: PlayerStore) -> tuple[object, ...]:
    catalogue = store.catalogue
    return (catalogue.all_assets(), catalogue.all_playlists(), catalogue.all_schedules())


def basic_manifest() -> Manifest:
    return manifest(
        [asset("a"), asset("b"), asset("e", emergency=True)],
        [playlist("p", "a", "b", "a")],
        [schedule("s", "p")],
    )


def verify_all(store: PlayerStore) -> None:
    for a in store.catalogue.all_assets():
        store.files.mark_file_verified(a.sha256, a.size_bytes, T0)


class TestOpen:
    def test_migrations_at_head_and_schema_matches_tables(
        self, store: PlayerStore, db_path: Path
    ) -> None:
        del store
        with sqlite3.connect(db_path) as raw:
            version = raw.execute("SELECT version_num FROM alembic_version").fetchall()
        raw.close()
        from player.store.engine import migrations_config

        script = ScriptDirectory.from_config(migrations_config(None))  # type: ignore[arg-type]
        assert version == [(script.get_current_head(),)]
        from sqlalchemy import create_engine

        engine = create_engine(f"sqlite:///{db_path}")
        try:
            with engine.connect() as conn:
                diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        finally:
            engine.dispose()
        assert diffs == []

    def test_pragmas(self, store: PlayerStore) -> None:
        engine = store.db._engine
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert store.db.integrity_check() == "ok"

    def test_reopen_keeps_state(self, db_path: Path) -> None:
        with PlayerStore.open(db_path) as first:
            first.catalogue.apply_manifest(basic_manifest())
            first.state.set_raw("clock.lower_bound", T0.isoformat())
        with PlayerStore.open(db_path) as second:
            assert second.state.cursor() == "c1"
            assert second.state.get_raw("clock.lower_bound") == T0.isoformat()
            assert second.state.device() is not None
            assert [a.id for a in second.catalogue.all_assets()] == ["a", "b", "e"]

    def test_rejects_bad_outbox_bound(self, db_path: Path) -> None:
        with pytest.raises(ValueError, match="outbox_max_rows"):
            PlayerStore.open(db_path, outbox_max_rows=0)


class TestManifest:
    def test_apply_full_counts_and_state(self, store: PlayerStore) -> None:
        result = store.catalogue.apply_manifest(basic_manifest())
        assert result.full
        assert (result.assets_upserted, result.playlists_upserted, result.schedules_upserted) == (
            3,
            1,
            1,
        )
        counts = store.outbox.counts()
        assert (counts.assets, counts.playlists, counts.schedules) == (3, 1, 1)
        assert store.state.get_raw("sync_interval_s") == "600"
        device = store.state.device()
        assert device is not None
        assert device.timezone == "UTC"

    def test_rejected_manifest_changes_nothing(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(basic_manifest())
        before = state_of(store), store.state.cursor()
        dangling_item = manifest(
            [asset("z")], [playlist("p", "missing")], [schedule("s", "p")], full=False, cursor="c2"
        )
        with pytest.raises(ManifestError, match="asset 'missing'"):
            store.catalogue.apply_manifest(dangling_item)
        dangling_schedule = manifest([], [], [schedule("s2", "nope")], full=False, cursor="c3")
        with pytest.raises(ManifestError, match="playlist 'nope'"):
            store.catalogue.apply_manifest(dangling_schedule)
        deletes_used_asset = manifest(full=False, cursor="c4", deleted=Deleted(assets=("a",)))
        with pytest.raises(ManifestError, match="asset 'a'"):
            store.catalogue.apply_manifest(deletes_used_asset)
        bad_zone = manifest([asset("x")], timezone="Mars/Olympus", cursor="c5")
        with pytest.raises(ManifestError, match="Mars/Olympus"):
            store.catalogue.apply_manifest(bad_zone)
        duplicate = manifest([asset("x"), asset("x")], cursor="c6")
        with pytest.raises(ManifestError, match="duplicate id 'x'"):
            store.catalogue.apply_manifest(duplicate)
        assert (state_of(store), store.state.cursor()) == before

    def test_garbage_collection_follows_schedules(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(
            manifest(
                [asset("a"), asset("b"), asset("e", emergency=True)],
                [playlist("p1", "a"), playlist("p2", "b")],
                [schedule("s1", "p1"), schedule("s2", "p2")],
            )
        )
        result = store.catalogue.apply_manifest(
            manifest(full=False, cursor="c2", deleted=Deleted(schedules=("s2",)))
        )
        assert (result.schedules_removed, result.playlists_removed, result.assets_removed) == (
            1,
            1,
            1,
        )
        assert [a.id for a in store.catalogue.all_assets()] == ["a", "e"]
        assert [p.id for p in store.catalogue.all_playlists()] == ["p1"]

    def test_deltas_equal_one_full_sync(self, db_path: Path, tmp_path: Path) -> None:
        final = manifest(
            [asset("a"), asset("c", valid_until=T0), asset("e", emergency=True)],
            [playlist("p1", "a", "c"), playlist("p3", "c")],
            [schedule("s1", "p1", priority=2), schedule("s3", "p3", start=60, end=120)],
            cursor="c9",
        )
        with PlayerStore.open(db_path) as incremental:
            incremental.catalogue.apply_manifest(
                manifest(
                    [asset("a"), asset("b"), asset("e", emergency=True)],
                    [playlist("p1", "a", "b"), playlist("p2", "b")],
                    [schedule("s1", "p1"), schedule("s2", "p2")],
                )
            )
            incremental.catalogue.apply_manifest(
                manifest(
                    [asset("c", valid_until=T0)],
                    [playlist("p1", "a", "c"), playlist("p3", "c")],
                    [schedule("s1", "p1", priority=2), schedule("s3", "p3", start=60, end=120)],
                    full=False,
                    cursor="c9",
                    deleted=Deleted(schedules=("s2",)),
                )
            )
            got = state_of(incremental), incremental.state.cursor()
        with PlayerStore.open(tmp_path / "full.db") as full:
            full.catalogue.apply_manifest(final)
            expected = state_of(full), full.state.cursor()
        assert got == expected

    def test_files_survive_garbage_collection(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(basic_manifest())
        verify_all(store)
        store.catalogue.apply_manifest(manifest(cursor="c2"))
        assert store.outbox.counts().assets == 0
        assert len([f for f in store.files.file_states() if f.present]) == 3


class TestDecideAndPlays:
    def test_rotation_survives_reopen(self, db_path: Path) -> None:
        with PlayerStore.open(db_path) as store:
            store.catalogue.apply_manifest(basic_manifest())
            verify_all(store)
            first = store.decisions.decide(T0)
            assert (first.asset_id, first.playlist_position) == ("a", 0)
            store.outbox.record_play(play("a", T0))
            assert store.decisions.decide(T0).playlist_position == 1
        with PlayerStore.open(db_path) as store:
            second = store.decisions.decide(T0 + timedelta(minutes=3))
            assert (second.asset_id, second.playlist_position) == ("b", 1)
            store.outbox.record_play(play("b", T0 + timedelta(minutes=3)), playlist_position=1)
            third = store.decisions.decide(T0 + timedelta(minutes=6))
            # position 2 holds "a" again: rotation is per position, not per asset
            assert (third.asset_id, third.playlist_position) == ("a", 2)
            store.outbox.record_play(play("a", T0 + timedelta(minutes=6)))
            assert store.decisions.decide(T0 + timedelta(minutes=9)).playlist_position == 0

    def test_decide_tiers_and_reasons(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(
            manifest(
                [
                    asset("a", valid_until=T0),
                    asset("e1", emergency=True),
                    asset("e2", emergency=True),
                ],
                [playlist("p", "a")],
                [schedule("s", "p")],
            )
        )
        assert store.decisions.decide(T0).tier is Tier.JINGLE  # nothing downloaded
        verify_all(store)
        decision = store.decisions.decide(T0, choice=lambda c: c[0])
        assert (decision.tier, decision.asset_id) == (Tier.EMERGENCY, "e1")
        assert "item 0 asset a: expired" in decision.reasons
        store.outbox.record_play(
            play("e1", T0, playlist_id=None, schedule_id=None, source=Tier.EMERGENCY)
        )
        assert store.decisions.decide(T0, choice=lambda c: c[0]).asset_id == "e2"
        store.files.quarantine_file(sha("e1"), T0 + timedelta(hours=1), "decode error")
        store.files.quarantine_file(sha("e2"), T0 + timedelta(hours=1), "decode error")
        silent = store.decisions.decide(T0, fallback=Tier.SILENCE)
        assert silent.tier is Tier.SILENCE
        assert silent.next_boundary_at == T0 + timedelta(hours=1)
        quarantined = store.files.quarantined_files(T0)
        assert [f.sha256 for f in quarantined] == sorted([sha("e1"), sha("e2")])
        assert store.outbox.counts(T0).quarantined == 2
        assert store.outbox.counts(T0 + timedelta(hours=1)).quarantined == 0

    def test_candidate_queries_use_indexes(self, store: PlayerStore) -> None:
        params = {"playlist_id": "p", "at": to_micros(T0), "limit": 1}
        with store.db._engine.connect() as conn:
            for query in (SQL_NEXT_ITEMS, SQL_EMERGENCY, SQL_NEXT_EDGE):
                rows = conn.execute(text("EXPLAIN QUERY PLAN " + query), params)
                plan = " | ".join(str(row[-1]) for row in rows)
                assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
                assert "TEMP B-TREE" not in plan, plan

    def test_forget_file_makes_it_unplayable(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(basic_manifest())
        verify_all(store)
        store.files.forget_file(sha("a"))
        decision = store.decisions.decide(T0)
        assert decision.asset_id == "b"
        needs = {n.sha256: n for n in store.catalogue.referenced_files()}
        assert not needs[sha("a")].present
        assert needs[sha("b")].present
        assert needs[sha("e")].emergency
        with pytest.raises(ValueError, match="sha256"):
            store.files.mark_file_verified("../etc/passwd", 1, T0)

    def test_concurrent_writers_from_threads(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(basic_manifest())
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(10):
                    store.outbox.record_play(play("a", T0 + timedelta(seconds=n * 100 + i)))
                    store.decisions.decide(T0)
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.outbox.counts().outbox_pending == 40


class TestOutbox:
    def test_pending_upload_and_local_log(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(basic_manifest())
        plays = [play("a", T0 + timedelta(minutes=n)) for n in range(5)]
        for p in plays:
            store.outbox.record_play(p)
        store.outbox.record_play(plays[0])  # same id again: ignored
        assert [p.id for p in store.outbox.pending_plays(3)] == [p.id for p in plays[:3]]
        store.outbox.mark_plays_uploaded([p.id for p in plays[:2]])
        assert [p.id for p in store.outbox.pending_plays(10)] == [p.id for p in plays[2:]]
        log = store.outbox.local_plays()
        assert [p.id for p, _ in log] == [p.id for p in plays]
        assert [uploaded for _, uploaded in log] == [True, True, False, False, False]
        assert [p for p, _ in store.outbox.local_plays(limit=1)] == [plays[-1]]

    def test_bound_prunes_uploaded_first_then_drops_and_counts(self, db_path: Path) -> None:
        with PlayerStore.open(db_path, outbox_max_rows=3) as store:
            plays = [play("a", T0 + timedelta(minutes=n)) for n in range(6)]
            for p in plays[:3]:
                store.outbox.record_play(p)
            store.outbox.mark_plays_uploaded([plays[0].id])
            store.outbox.record_play(plays[3])  # evicts uploaded plays[0]
            assert store.outbox.dropped_plays_count() == 0
            assert [p.id for p, _ in store.outbox.local_plays()] == [p.id for p in plays[1:4]]
            store.outbox.record_play(plays[4])
            store.outbox.record_play(plays[5])
            assert store.outbox.dropped_plays_count() == 2
            assert [p.id for p in store.outbox.pending_plays(10)] == [p.id for p in plays[3:]]
            assert store.outbox.counts().plays_dropped == 2


class TestEdges:
    def test_rotation_ties_go_to_the_lower_position(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(
            manifest([asset("x"), asset("y")], [playlist("p", "x", "y")], [schedule("s", "p")])
        )
        verify_all(store)
        store.outbox.record_play(play("y", T0), playlist_position=1)
        store.outbox.record_play(play("x", T0), playlist_position=0)
        assert store.decisions.decide(T0 + timedelta(minutes=1)).playlist_position == 0

    def test_quarantine_ends_exactly_at_until(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(
            manifest([asset("x")], [playlist("p", "x")], [schedule("s", "p")])
        )
        verify_all(store)
        store.files.quarantine_file(sha("x"), T0, "decode error")
        assert store.decisions.decide(T0 - timedelta(microseconds=1)).tier is Tier.JINGLE
        assert store.decisions.decide(T0).asset_id == "x"


class TestCatalogueChanges:
    def test_a_manifest_applied_elsewhere_is_seen_by_the_next_decision(
        self, store: PlayerStore, db_path: Path
    ) -> None:
        store.catalogue.apply_manifest(basic_manifest())
        verify_all(store)
        assert store.decisions.decide(T0).schedule_id == "s"
        with PlayerStore.open(db_path) as other:  # e.g. `lomuz-player import` while running
            other.catalogue.apply_manifest(
                manifest(
                    [asset("a"), asset("b")],
                    [playlist("q", "b")],
                    [schedule("s9", "q", priority=5)],
                    full=False,
                    cursor="c2",
                )
            )
        decision = store.decisions.decide(T0)
        assert (decision.schedule_id, decision.asset_id) == ("s9", "b")

    def test_playlist_edit_keeps_history_of_unchanged_positions(self, store: PlayerStore) -> None:
        store.catalogue.apply_manifest(
            manifest(
                [asset("a"), asset("b"), asset("c")],
                [playlist("p", "a", "b")],
                [schedule("s", "p")],
            )
        )
        verify_all(store)
        store.outbox.record_play(play("a", T0))
        store.catalogue.apply_manifest(
            manifest([asset("c")], [playlist("p", "a", "b", "c")], [], full=False, cursor="c2")
        )
        verify_all(store)
        # "a" at position 0 keeps its play; "b" (never played) comes next.
        assert store.decisions.decide(T0 + timedelta(minutes=1)).playlist_position == 1
