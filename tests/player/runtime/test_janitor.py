"""Janitor on a real store and cache: stale partial files, reconciliation
after a power cut, LRU eviction within the budget, storage_full, and
re-verification feeding the download manager."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lomuz_rules.model import Tier
from player.adapters.fetcher import Fetcher
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.core.model import Outcome, Play
from player.runtime.downloads import DownloadManager
from player.runtime.janitor import Janitor
from player.store.read_only import KEY_STORAGE_FULL
from player.store.repository import PlayerStore
from tests.fakes.clock import FakeClock
from tests.player.runtime.helpers import (
    MediaFiles,
    Script,
    ScriptedServer,
    asset_json,
    content,
    decoded,
    manifest_json,
    playlist_json,
    schedule_json,
    sha,
    store_janitor,
    wait_until,
)

Serve = Callable[[Script], ScriptedServer]
MakeClient = Callable[[str], ControlApiClient]

KEEP = content("keep")
OLD = content("played-long-ago")
NEW = content("played-yesterday")
NEVER = content("never-played")


def catalogue(*named: tuple[str, bytes], cursor: str = "r1") -> dict[str, Any]:
    """A full manifest scheduling every named file all day (empty when none)."""
    if not named:
        return manifest_json(cursor=cursor)
    return manifest_json(
        [asset_json(name, data) for name, data in named],
        [playlist_json("p", *(name for name, _ in named))],
        [schedule_json("s", "p")],
        cursor=cursor,
    )


def put(cache: MediaCache, tmp_path: Path, data: bytes) -> str:
    src = tmp_path / f"src-{uuid.uuid4().hex}"
    src.write_bytes(data)
    cache.store_verified_copy(src, sha(data), len(data))
    src.unlink()
    return sha(data)


def janitor(
    store: PlayerStore,
    cache: MediaCache,
    clock: FakeClock,
    *,
    max_cache_bytes: int | None = None,
    min_free_bytes: int = 0,
    verify_bytes_per_run: int = 64 * 1024 * 1024,
    on_cache_changed: Callable[[], None] | None = None,
) -> Janitor:
    return store_janitor(
        store,
        cache,
        clock,
        max_cache_bytes=max_cache_bytes,
        min_free_bytes=min_free_bytes,
        verify_bytes_per_run=verify_bytes_per_run,
        on_cache_changed=on_cache_changed,
    )


def play(data: bytes, clock: FakeClock, days_ago: float) -> Play:
    at = clock.now() - timedelta(days=days_ago)
    return Play(
        str(uuid.uuid4()),
        "x",
        sha(data),
        at,
        at + timedelta(minutes=3),
        Tier.EMERGENCY,
        Outcome.COMPLETED,
    )


def test_stale_partial_files_are_removed(
    store: PlayerStore, cache: MediaCache, clock: FakeClock
) -> None:
    stale = cache.part_path(sha(OLD))
    stale_tmp = stale.with_name(f"{sha(OLD)}.1.2.tmp")
    fresh = cache.part_path(sha(NEW))
    for path in (stale, stale_tmp, fresh):
        path.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    os.utime(stale_tmp, (two_days_ago, two_days_ago))
    report = janitor(store, cache, clock).run_once()
    assert report.stale_parts_removed == 2
    assert not stale.exists() and not stale_tmp.exists()
    assert fresh.read_bytes() == b"partial"


def test_reconcile_adopts_forgets_and_drops_impostors(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP), ("old", OLD), ("new", NEW))))
    # A power cut after the rename, before the database write: on disk, unknown to the store.
    put(cache, tmp_path, KEEP)
    # The store believes in a file that is gone.
    store.files.mark_file_verified(sha(OLD), len(OLD), clock.now())
    # A file named for a referenced hash whose bytes are something else.
    impostor = cache.path_for(sha(NEW))
    impostor.parent.mkdir(parents=True, exist_ok=True)
    impostor.write_bytes(b"not the right bytes")
    changed: list[bool] = []

    report = janitor(store, cache, clock, on_cache_changed=lambda: changed.append(True)).run_once()

    assert (report.adopted, report.forgotten) == (1, 1)
    states = {f.sha256: f for f in store.files.file_states()}
    assert states[sha(KEEP)].present and states[sha(KEEP)].verified_at == clock.now()
    assert not states[sha(OLD)].present
    assert sha(NEW) not in states or not states[sha(NEW)].present
    assert not impostor.exists()
    assert changed == [True]


def fill_cache_with_unreferenced(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    """KEEP stays scheduled; OLD, NEW and NEVER were played (or not) and then dropped."""
    store.catalogue.apply_manifest(
        decoded(catalogue(("keep", KEEP), ("old", OLD), ("new", NEW), ("never", NEVER)))
    )
    for data in (KEEP, OLD, NEW, NEVER):
        put(cache, tmp_path, data)
        store.files.mark_file_verified(sha(data), len(data), clock.now())
    store.outbox.record_play(play(OLD, clock, days_ago=10))
    store.outbox.record_play(play(NEW, clock, days_ago=1))
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP), cursor="r2")))


def test_eviction_is_least_recently_played_first_and_only_what_is_needed(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    fill_cache_with_unreferenced(store, cache, clock, tmp_path)
    report = janitor(store, cache, clock, max_cache_bytes=2500).run_once()
    assert report.evicted == (sha(NEVER), sha(OLD))
    assert {e.sha256 for e in cache.list_files()} == {sha(KEEP), sha(NEW)}
    present = {f.sha256 for f in store.files.file_states() if f.present}
    assert present == {sha(KEEP), sha(NEW)}
    assert not report.storage_full
    assert cache.usage().size_bytes <= 2500


def test_a_scheduled_file_is_never_evicted_and_storage_full_is_set_then_cleared(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    fill_cache_with_unreferenced(store, cache, clock, tmp_path)
    jan = janitor(store, cache, clock, max_cache_bytes=500)
    report = jan.run_once()
    assert set(report.evicted) == {sha(NEVER), sha(OLD), sha(NEW)}
    assert cache.has(sha(KEEP))
    assert report.storage_full and jan.storage_full
    assert store.state.get_raw(KEY_STORAGE_FULL) == "1"

    store.catalogue.apply_manifest(decoded(catalogue(cursor="r3")))  # nothing scheduled any more
    report = jan.run_once()
    assert report.evicted == (sha(KEEP),)
    assert not report.storage_full and not jan.storage_full
    assert store.state.get_raw(KEY_STORAGE_FULL) == ""


def test_storage_full_persisted_by_a_previous_run_is_cleared(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP))))
    put(cache, tmp_path, KEEP)
    assert janitor(store, cache, clock, max_cache_bytes=500).run_once().storage_full
    assert store.state.get_raw(KEY_STORAGE_FULL) == "1"
    # Restarted with a bigger budget: the flag must not stay stuck in the store.
    restarted = janitor(store, cache, clock, max_cache_bytes=10_000)
    assert restarted.storage_full  # what the store said until the first run
    assert not restarted.run_once().storage_full
    assert store.state.get_raw(KEY_STORAGE_FULL) == ""


def test_has_room_for_evicts_what_it_may_and_refuses_what_cannot_fit(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP), ("old", OLD))))
    for data in (KEEP, OLD):
        put(cache, tmp_path, data)
        store.files.mark_file_verified(sha(data), len(data), clock.now())
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP), cursor="r2")))
    jan = janitor(store, cache, clock, max_cache_bytes=3000)
    assert jan.has_room_for(2500) is False  # even with OLD gone, 1000 + 2500 > 3000
    assert not cache.has(sha(OLD))  # it made what room it could
    assert cache.has(sha(KEEP))
    assert jan.has_room_for(2000) is True
    assert jan.has_room_for(2001) is False


def test_has_room_for_respects_min_free_bytes(
    store: PlayerStore, cache: MediaCache, clock: FakeClock
) -> None:
    free = cache.disk_free_bytes()
    jan = janitor(store, cache, clock, min_free_bytes=free + 10**9)
    assert jan.has_room_for(1) is False


def test_a_tampered_file_is_found_removed_and_downloaded_again(
    store: PlayerStore,
    cache: MediaCache,
    clock: FakeClock,
    tmp_path: Path,
    serve: Serve,
    api_client: MakeClient,
) -> None:
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP), ("new", NEW))))
    server = serve(MediaFiles([KEEP, NEW]))
    manager = DownloadManager(
        store.catalogue,
        store.files,
        cache,
        Fetcher(api_client(server.url), cache),
        clock,
        concurrency=1,
        random=lambda: 0.5,
    )
    manager.start()
    try:
        assert manager.wait_idle(20)
        assert len(server.seen) == 2
        tampered = cache.path_for(sha(KEEP))
        tampered.write_bytes(b"X" + KEEP[1:])
        jan = janitor(store, cache, clock, on_cache_changed=manager.reprioritise)

        report = jan.run_once()

        assert report.corrupt == (sha(KEEP),)
        assert report.reverified == 2
        wait_until(lambda: len(server.seen) == 3)
        assert manager.wait_idle(20)
        assert server.seen[-1].path.endswith(sha(KEEP))
        assert tampered.read_bytes() == KEEP
        assert sha(KEEP) in {f.sha256 for f in store.files.file_states() if f.present}
        assert jan.run_once().corrupt == ()
    finally:
        manager.stop()


def test_reverification_rotates_within_its_byte_budget(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, tmp_path: Path
) -> None:
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP), ("old", OLD), ("new", NEW))))
    for data in (KEEP, OLD, NEW):
        put(cache, tmp_path, data)
        store.files.mark_file_verified(sha(data), len(data), clock.now())
    jan = janitor(store, cache, clock, verify_bytes_per_run=1000)
    counts = [jan.run_once().reverified for _ in range(3)]
    assert counts == [1, 1, 1]
    # Tamper with every file: three runs of one file each find all three.
    for data in (KEEP, OLD, NEW):
        cache.path_for(sha(data)).write_bytes(b"Y" * len(data))
    found: set[str] = set()
    for _ in range(3):
        found |= set(jan.run_once().corrupt)
    assert found == {sha(KEEP), sha(OLD), sha(NEW)}


@pytest.mark.parametrize("budget", [None, 10_000])
def test_nothing_to_do_changes_nothing(
    budget: int | None,
    store: PlayerStore,
    cache: MediaCache,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    store.catalogue.apply_manifest(decoded(catalogue(("keep", KEEP))))
    put(cache, tmp_path, KEEP)
    store.files.mark_file_verified(sha(KEEP), len(KEEP), clock.now())
    changed: list[bool] = []
    report = janitor(
        store, cache, clock, max_cache_bytes=budget, on_cache_changed=lambda: changed.append(True)
    ).run_once()
    assert (report.adopted, report.forgotten, report.evicted, report.corrupt) == (0, 0, (), ())
    assert changed == []
    assert cache.has(sha(KEEP))
