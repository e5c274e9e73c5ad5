"""DownloadManager with a real store, cache and fetcher against a loopback
media server: priority order, bounded concurrency, corrupt files, retry,
re-prioritising and resume after stop()."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from player.adapters.fetcher import Fetcher
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.runtime.downloads import DownloadManager
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
    wait_until,
)

Serve = Callable[[Script], ScriptedServer]
MakeClient = Callable[[str], ControlApiClient]

# Sizes are chosen against the priority classes: the most urgent file is the largest.
ACTIVE = content("active", 9000)
EMERGENCY = content("emergency", 8000)
SOON = content("soon", 7000)  # a schedule starting at 14:00 (now is 12:00)
LATER = content("later", 1000)  # a schedule starting at 17:00
REST = content("rest", 500)  # only used by an expired schedule


def catalogue(*, later_active: bool = False) -> dict[str, Any]:
    return manifest_json(
        [
            asset_json("active", ACTIVE),
            asset_json("emergency", EMERGENCY, emergency=True),
            asset_json("soon", SOON),
            asset_json("later", LATER),
            asset_json("rest", REST),
        ],
        [
            playlist_json("p-now", "active"),
            playlist_json("p-soon", "soon"),
            playlist_json("p-later", "later"),
            playlist_json("p-old", "rest"),
        ],
        [
            schedule_json("s-now", "p-now"),
            schedule_json("s-soon", "p-soon", start="14:00", end="15:00"),
            schedule_json(
                "s-later",
                "p-later",
                start="00:00" if later_active else "17:00",
                end="24:00" if later_active else "18:00",
            ),
            schedule_json("s-old", "p-old", valid_until="2026-03-01T00:00:00Z"),
        ],
    )


ALL_FILES = [ACTIVE, EMERGENCY, SOON, LATER, REST]


class Rig:
    """A store with the catalogue, a media server and managers built on them."""

    def __init__(
        self,
        store: PlayerStore,
        cache: MediaCache,
        clock: FakeClock,
        server: ScriptedServer,
        media: MediaFiles,
        client: ControlApiClient,
    ) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self.server = server
        self.media = media
        self.client = client
        self.ready: list[str] = []
        self.managers: list[DownloadManager] = []

    def manager(self, concurrency: int = 1, **kw: Any) -> DownloadManager:
        manager = DownloadManager(
            self.store.catalogue,
            self.store.files,
            self.cache,
            Fetcher(self.client, self.cache, chunk_bytes=4096),
            self.clock,
            concurrency=concurrency,
            on_file_ready=self.ready.append,
            random=lambda: 0.5,
            **kw,
        )
        self.managers.append(manager)
        return manager

    def requested(self) -> list[str]:
        return [p.rsplit("/", 1)[1] for p in self.server.paths("/v1/media/")]

    def present(self) -> set[str]:
        return {f.sha256 for f in self.store.files.file_states() if f.present}


@pytest.fixture
def rig(
    store: PlayerStore, cache: MediaCache, clock: FakeClock, serve: Serve, api_client: MakeClient
) -> Iterator[Rig]:
    store.catalogue.apply_manifest(decoded(catalogue()))
    media = MediaFiles(ALL_FILES)
    server = serve(media)
    built = Rig(store, cache, clock, server, media, api_client(server.url))
    yield built
    if built.media.gate is not None:
        built.media.gate.set()
    for manager in built.managers:
        manager.stop()


def test_priority_order_is_the_order_of_requests(rig: Rig) -> None:
    manager = rig.manager(concurrency=1)
    manager.start()
    assert manager.wait_idle(20)
    assert rig.requested() == [sha(d) for d in (ACTIVE, EMERGENCY, SOON, LATER, REST)]
    assert rig.present() == {sha(d) for d in ALL_FILES}
    assert sorted(rig.ready) == sorted(sha(d) for d in ALL_FILES)
    for data in ALL_FILES:
        assert rig.cache.path_for(sha(data)).read_bytes() == data
    status = manager.status()
    assert (status.pending, status.downloaded_total, status.failing) == (0, 5, ())
    assert status.downloaded_bytes_total == sum(len(d) for d in ALL_FILES)


def test_concurrency_is_bounded_at_the_server(rig: Rig) -> None:
    rig.media.hold_s = 0.1
    manager = rig.manager(concurrency=2)
    manager.start()
    assert manager.wait_idle(20)
    assert len(rig.requested()) == 5
    assert rig.server.max_in_flight == 2


def test_a_corrupt_file_backs_off_and_never_counts_as_verified(rig: Rig) -> None:
    bad = sha(EMERGENCY)
    rig.media.corrupt.add(bad)
    manager = rig.manager(concurrency=1)
    manager.start()
    assert manager.wait_idle(20)

    assert rig.present() == {sha(d) for d in ALL_FILES} - {bad}
    assert not rig.cache.has(bad)
    assert not rig.cache.part_path(bad).exists()
    assert bad not in rig.ready
    status = manager.status()
    assert [f.sha256 for f in status.failing] == [bad]
    failure = status.failing[0]
    assert failure.failures == 1
    assert failure.next_attempt_at is not None and failure.next_attempt_at > rig.clock.now()
    assert failure.last_error is not None and "sha256" in failure.last_error
    assert status.pending == 1
    # The clock has not moved: no retry storm while backing off.
    assert rig.requested().count(bad) == 1

    rig.media.corrupt.clear()
    manager.retry_now()
    wait_until(lambda: bad in rig.present())
    assert manager.wait_idle(20)
    assert manager.status().failing == ()
    assert rig.cache.verify(bad)
    assert rig.requested().count(bad) == 2


def test_backoff_elapses_on_the_clock(rig: Rig) -> None:
    bad = sha(REST)
    rig.media.corrupt.add(bad)
    manager = rig.manager(concurrency=1)
    manager.start()
    assert manager.wait_idle(20)
    failure = manager.status().failing[0]
    assert failure.next_attempt_at is not None
    rig.clock.advance((failure.next_attempt_at - rig.clock.now()).total_seconds() + 1)
    wait_until(lambda: rig.requested().count(bad) == 2)
    assert manager.wait_idle(20)
    assert manager.status().failing[0].failures == 2  # still corrupt: backs off again


def test_reprioritised_after_a_catalogue_change(rig: Rig) -> None:
    gate = rig.media.gate = threading.Event()
    manager = rig.manager(concurrency=1)
    manager.start()
    wait_until(lambda: len(rig.requested()) == 1)  # the active file, held at the server
    rig.store.catalogue.apply_manifest(decoded({**catalogue(later_active=True), "cursor": "r2"}))
    manager.reprioritise()
    gate.set()
    assert manager.wait_idle(20)
    assert rig.requested() == [sha(d) for d in (ACTIVE, LATER, EMERGENCY, SOON, REST)]


def test_stop_cancels_and_a_new_manager_resumes_with_range(rig: Rig) -> None:
    big = content("big", 400 * 1024)
    digest = rig.media.add(big)
    doc = catalogue()
    doc["assets"] = [asset_json("big", big)]
    doc["playlists"] = [playlist_json("p-now", "big")]
    doc["schedules"] = [schedule_json("s-now", "p-now")]
    rig.store.catalogue.apply_manifest(decoded({**doc, "cursor": "r2"}))
    rig.media.slow.add(digest)
    part = rig.cache.part_path(digest)

    first = rig.manager(concurrency=1)
    first.start()
    wait_until(lambda: part.exists() and part.stat().st_size >= 64 * 1024)
    first.stop()
    kept = part.stat().st_size
    assert 0 < kept < len(big)
    assert not rig.cache.has(digest)
    assert digest not in rig.present()
    assert first.status().failing == ()  # a cancel is not a failure

    rig.media.slow.clear()
    second = rig.manager(concurrency=1)
    second.start()
    assert second.wait_idle(20)
    assert rig.cache.path_for(digest).read_bytes() == big
    resumed = [s for s in rig.server.seen if s.path.endswith(digest)][-1]
    assert resumed.headers["range"].startswith("bytes=")
    assert resumed.headers["range"] == f"bytes={kept}-"
    assert resumed.headers["if-range"] == f'"{digest}"'
    assert second.status().downloaded_bytes_total < len(big)


def test_no_room_is_a_failure_not_a_download(rig: Rig) -> None:
    manager = rig.manager(
        concurrency=1,
        room_problem=lambda size: None if size < 5000 else "the cache budget is full: test",
    )
    manager.start()
    assert manager.wait_idle(20)
    assert set(rig.requested()) == {sha(LATER), sha(REST)}
    failing = {f.sha256: f.last_error for f in manager.status().failing}
    assert set(failing) == {sha(ACTIVE), sha(EMERGENCY), sha(SOON)}
    assert all(e is not None and "storage_full" in e for e in failing.values())
    assert all(e is not None and "the cache budget is full" in e for e in failing.values())


def test_a_file_off_the_allowed_origins_is_refused_visibly_and_the_rest_downloads(
    store: PlayerStore,
    cache: MediaCache,
    clock: FakeClock,
    serve: Serve,
    api_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    doc = catalogue()
    elsewhere = f"https://media.elsewhere.example/{sha(SOON)}"
    for asset in doc["assets"]:
        if asset["id"] == "soon":
            asset["url"] = elsewhere
    store.catalogue.apply_manifest(decoded(doc))
    server = serve(MediaFiles(ALL_FILES))
    rig = Rig(store, cache, clock, server, MediaFiles(ALL_FILES), api_client(server.url))
    manager = rig.manager(concurrency=1)
    try:
        with caplog.at_level("WARNING", logger="player.runtime.downloads"):
            manager.start()
            assert manager.wait_idle(20)
            manager.retry_now()  # `lomuz-player sync` asks again: refused again, not re-logged
            assert manager.wait_idle(20)
    finally:
        manager.stop()
    assert rig.present() == {sha(d) for d in ALL_FILES if d is not SOON}
    assert sha(SOON) not in rig.requested()
    (failure,) = manager.status().failing
    assert failure.sha256 == sha(SOON)
    assert failure.failures == 2
    assert failure.last_error is not None
    assert (
        f"not fetched: {elsewhere}: its origin https://media.elsewhere.example is neither"
    ) in failure.last_error
    assert "[api] media_origins" in failure.last_error
    logged = [r for r in caplog.records if sha(SOON)[:12] in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in logged]
