"""Syncer against a scripted control API on loopback: deltas, 304s, bad
manifests rejected whole, logging per transition, Retry-After and the clock."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from player.adapters.clock import SystemClock
from player.adapters.http_api import ControlApiClient
from player.adapters.retry import TenacityRetrier
from player.errors import ApiUnavailable, ManifestError, StoreFull
from player.runtime.syncer import SYNC_RETRY, Syncer, SyncOutcome
from player.store.read_only import KEY_LAST_SYNC_ERROR, KEY_LAST_SYNC_OK_AT
from player.store.repository import PlayerStore
from tests.player.runtime.helpers import (
    Answer,
    Script,
    ScriptedServer,
    Seen,
    asset_json,
    content,
    manifest_json,
    playlist_json,
    schedule_json,
)

Serve = Callable[[Script], ScriptedServer]
MakeClient = Callable[[str], ControlApiClient]

A = asset_json("a", content("a"))
B = asset_json("b", content("b"))
FULL = manifest_json([A], [playlist_json("p", "a")], [schedule_json("s", "p")], cursor="r1")
DELTA = manifest_json([B], [playlist_json("p", "a", "b")], full=False, cursor="r2")


class Replies:
    """Answers in order; the last one repeats."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)

    def __call__(self, seen: Seen) -> Answer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def manifest_answer(doc: Any) -> Answer:
    return Answer.json(200, doc, ETag=f'"{doc["cursor"]}"')


def not_modified(cursor: str) -> Answer:
    return Answer(304, headers={"ETag": f'"{cursor}"'})


def make_syncer(store: PlayerStore, client: ControlApiClient, **kw: Any) -> Syncer:
    return Syncer(store.catalogue, store.state, client, SystemClock(), retry=no_sleep_retry(), **kw)


def no_sleep_retry(sleep: Callable[[float], None] = lambda _s: None) -> TenacityRetrier:
    """The syncer's own policy, without waiting."""
    return TenacityRetrier(SYNC_RETRY, sleep=sleep)


def test_full_then_delta_then_not_modified(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    server = serve(Replies(manifest_answer(FULL), manifest_answer(DELTA), not_modified("r2")))
    applied: list[SyncOutcome] = []
    syncer = make_syncer(store, api_client(server.url), on_applied=applied.append)

    first = syncer.sync_once()
    assert (first.changed, first.full, first.cursor) == (True, True, "r1")
    assert store.state.cursor() == "r1"
    assert [a.id for a in store.catalogue.all_assets()] == ["a"]

    second = syncer.sync_once()
    assert (second.changed, second.full, second.cursor) == (True, False, "r2")
    assert [a.id for a in store.catalogue.all_assets()] == ["a", "b"]
    assert [i.asset_id for i in store.catalogue.all_playlists()[0].items] == ["a", "b"]

    third = syncer.sync_once()
    assert (third.changed, third.cursor, third.applied) == (False, "r2", None)
    assert store.state.cursor() == "r2"

    assert server.paths() == [
        "/v1/device/manifest",
        "/v1/device/manifest?since=r1",
        "/v1/device/manifest?since=r2",
    ]
    assert all(s.headers["authorization"] == "Bearer device-token" for s in server.seen)
    assert [o.cursor for o in applied] == ["r1", "r2"]  # a 304 triggers no re-prioritising
    assert store.state.get_raw(KEY_LAST_SYNC_ERROR) == ""
    assert store.state.get_raw(KEY_LAST_SYNC_OK_AT)


def test_cursor_survives_a_restart(tmp_path: Any, serve: Serve, api_client: MakeClient) -> None:
    server = serve(Replies(manifest_answer(FULL), not_modified("r1")))
    with PlayerStore.open(tmp_path / "p.db") as store:
        make_syncer(store, api_client(server.url)).sync_once()
    with PlayerStore.open(tmp_path / "p.db") as store:
        assert not make_syncer(store, api_client(server.url)).sync_once().changed
    assert server.paths()[-1] == "/v1/device/manifest?since=r1"


BAD_MANIFESTS = {
    "bad_json": (b'{"schema": 1, "cursor": ', "not valid JSON"),
    "schema_2": (json.dumps({**DELTA, "schema": 2}).encode(), "unsupported schema major 2"),
    "dangling_reference": (
        json.dumps(
            manifest_json([], [playlist_json("p", "ghost")], full=False, cursor="r9")
        ).encode(),
        "ghost",
    ),
    "dangling_after_apply": (
        json.dumps(
            manifest_json(
                full=False, cursor="r9", deleted={"assets": ["a"], "playlists": [], "schedules": []}
            )
        ).encode(),
        "'a'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_MANIFESTS))
def test_a_bad_manifest_is_rejected_whole(
    name: str, store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    body, problem = BAD_MANIFESTS[name]
    bad = Answer(200, body, {"Content-Type": "application/json", "ETag": '"r9"'})
    server = serve(Replies(manifest_answer(FULL), bad))
    syncer = make_syncer(store, api_client(server.url))
    syncer.sync_once()
    ok_at = store.state.get_raw(KEY_LAST_SYNC_OK_AT)
    catalogue = store.catalogue
    before = (catalogue.all_assets(), catalogue.all_playlists(), catalogue.all_schedules())

    with pytest.raises(ManifestError, match=problem):
        syncer.sync_once()

    assert (catalogue.all_assets(), catalogue.all_playlists(), catalogue.all_schedules()) == before
    assert store.state.cursor() == "r1"
    error = store.state.get_raw(KEY_LAST_SYNC_ERROR)
    assert error is not None and error.startswith("ManifestError") and problem in error
    assert store.state.get_raw(KEY_LAST_SYNC_OK_AT) == ok_at


def test_failure_is_logged_once_then_recovered_once(
    store: PlayerStore, serve: Serve, api_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    bad = Answer(200, b"[]", {"Content-Type": "application/json"})
    server = serve(Replies(bad, bad, bad, manifest_answer(FULL), not_modified("r1")))
    syncer = make_syncer(store, api_client(server.url))
    caplog.set_level(logging.INFO, logger="player.runtime.syncer")
    for failures in (1, 2, 3):
        with pytest.raises(ManifestError):
            syncer.sync_once()
        assert store.state.read().sync_failures == failures  # the API's sync_failing alert
    syncer.sync_once()
    assert store.state.read().sync_failures == 0
    syncer.sync_once()
    messages = [r.getMessage() for r in caplog.records if r.name == "player.runtime.syncer"]
    assert sum("failing" in m for m in messages) == 1
    assert sum("recovered" in m for m in messages) == 1
    assert [r.levelno for r in caplog.records if "failing" in r.getMessage()] == [logging.WARNING]
    assert store.state.get_raw(KEY_LAST_SYNC_ERROR) == ""


def test_retries_honour_retry_after(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    busy = Answer.json(503, {"error": {"code": "busy", "message": "later"}}, **{"Retry-After": "7"})
    server = serve(Replies(busy, busy, manifest_answer(FULL)))
    slept: list[float] = []
    syncer = Syncer(
        store.catalogue,
        store.state,
        api_client(server.url),
        SystemClock(),
        retry=no_sleep_retry(slept.append),
    )
    assert syncer.sync_once().cursor == "r1"
    assert len(server.seen) == 3
    assert len(slept) == 2
    assert all(s >= 7.0 for s in slept)


def test_giving_up_keeps_the_state_and_names_the_error(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    busy = Answer.json(503, {"error": {"code": "busy", "message": "later"}})
    server = serve(Replies(manifest_answer(FULL), busy))
    syncer = make_syncer(store, api_client(server.url))
    syncer.sync_once()
    with pytest.raises(ApiUnavailable):
        syncer.sync_once()
    assert len(server.seen) == 1 + 4  # the default policy: 4 attempts
    assert store.state.cursor() == "r1"
    error = store.state.get_raw(KEY_LAST_SYNC_ERROR)
    assert error is not None and "503" in error


def test_the_date_header_feeds_the_clock_offset(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    server = serve(Replies(manifest_answer(FULL), not_modified("r1")))
    server.date_offset_s = 3600.0
    clock = SystemClock()
    syncer = Syncer(
        store.catalogue, store.state, api_client(server.url), clock, retry=no_sleep_retry()
    )
    syncer.sync_once()
    status = clock.status()
    assert status.offset_s == pytest.approx(3600.0, abs=2.0)
    assert status.trusted
    # A 304 carries a Date too: the offset follows the server.
    server.date_offset_s = -120.0
    syncer.sync_once()
    assert clock.status().offset_s == pytest.approx(-120.0, abs=2.0)


def test_an_old_plain_http_enrollment_is_refused_in_status_without_a_request(
    store: PlayerStore, caplog: pytest.LogCaptureFixture
) -> None:
    from player.errors import ConfigError

    # What the daemon builds from credentials enrolled over http:// before issue 10.
    with ControlApiClient("http://api.lan:8080", "device-token") as client:
        syncer = make_syncer(store, client)
        caplog.set_level(logging.INFO, logger="player.runtime.syncer")
        for _ in range(3):
            with pytest.raises(ConfigError):
                syncer.sync_once()
    error = store.state.get_raw(KEY_LAST_SYNC_ERROR) or ""
    assert error.startswith("ConfigError: api url http://api.lan:8080: must use https://")
    assert "enroll again with an https:// --api URL" in error
    assert "allow_insecure_http = true" in error
    messages = [r.getMessage() for r in caplog.records if r.name == "player.runtime.syncer"]
    assert sum("failing" in m for m in messages) == 1
    assert store.state.cursor() is None


class CollectorWatchingCatalogue:
    """The real catalogue; records whether the cyclic collector could run during each apply."""

    def __init__(self, store: PlayerStore, fail: bool = False) -> None:
        self._catalogue = store.catalogue
        self._fail = fail
        self.collector_enabled: list[bool] = []

    def apply_manifest(self, manifest: Any) -> Any:
        self.collector_enabled.append(gc.isenabled())
        if self._fail:
            raise StoreFull("disk full", path="/", free_bytes=0)
        return self._catalogue.apply_manifest(manifest)


@pytest.mark.parametrize("fail", [False, True])
def test_no_collection_walks_a_manifest_being_applied_and_the_collector_resumes(
    store: PlayerStore, serve: Serve, api_client: MakeClient, fail: bool
) -> None:
    # A collection holds the GIL for its whole walk: over a big manifest's
    # objects, playback's thread would wait (player.interpreter).
    server = serve(Replies(manifest_answer(FULL)))
    catalogue = CollectorWatchingCatalogue(store, fail=fail)
    syncer = Syncer(
        catalogue,  # type: ignore[arg-type]
        store.state,
        api_client(server.url),
        SystemClock(),
        retry=no_sleep_retry(),
    )
    assert gc.isenabled()
    if fail:
        with pytest.raises(StoreFull):
            syncer.sync_once()
    else:
        assert syncer.sync_once().changed
    assert catalogue.collector_enabled == [False]
    assert gc.isenabled()
