"""The 304 poll path: answered from the in-process revision cache, and a change
made by another worker is visible to a poll within the cache's TTL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from control_api.app import create_app
from control_api.revisions import RevisionCache
from control_api.settings import load_settings
from control_api.store.db import Database
from tests.control_api.conftest import METRICS_TOKEN, Api
from tests.control_api.media_samples import wav
from tests.control_api.metrics.helpers import samples
from tests.control_api.openapi_check import CheckedClient

TTL_S = 1.0


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


class CheckoutCounter:
    """Counts connections taken from an engine's pool (each session takes one)."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine, "checkout", self._on_checkout)

    def _on_checkout(self, *_: Any) -> None:
        self.count += 1


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def two_workers(settings_env: dict[str, str], clock: FakeMonotonic) -> Iterator[tuple[Api, Api]]:
    """Two apps on one database, as two server workers: each has its own caches."""
    env = {**settings_env, "LOMUZ_REVISION_CACHE_S": str(TTL_S)}
    settings = load_settings(env)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    apps = [create_app(settings, monotonic=clock) for _ in range(2)]
    try:
        yield tuple(  # type: ignore[misc]
            Api(CheckedClient(app), app, app.deps.db) for app in apps
        )
    finally:
        for app in apps:
            app.close()


def _scheduled_device(api: Api) -> tuple[str, str, str, str]:
    """(admin token, device token, playlist id, first asset id), scheduled for all."""
    admin = api.tenant()
    asset = api.upload(admin, wav(b"first song")).json
    playlist = api.call(
        "POST", "/v1/playlists", admin, json={"name": "p", "items": [{"asset_id": asset["id"]}]}
    ).json
    created = api.call(
        "POST",
        "/v1/schedules",
        admin,
        json={"playlist_id": playlist["id"], "target": {"all": True}},
    )
    assert created.status_code == 201, created.text
    _, token = api.device(admin)
    return admin, token, playlist["id"], asset["id"]


def _poll(api: Api, token: str, cursor: str | None = None) -> Any:
    params = {"since": cursor} if cursor else None
    return api.call("GET", "/v1/device/manifest", token, params=params)


def test_change_by_another_worker_is_polled_within_the_ttl(
    two_workers: tuple[Api, Api], clock: FakeMonotonic
) -> None:
    polled, edited = two_workers
    admin, token, playlist_id, _ = _scheduled_device(edited)
    cursor = _poll(polled, token).json["cursor"]
    assert _poll(polled, token, cursor).status_code == 304  # caches the revision

    renamed = edited.call(
        "PUT", f"/v1/playlists/{playlist_id}", admin, json={"name": "renamed", "items": []}
    )
    assert renamed.status_code == 200, renamed.text
    # Within the TTL the polling worker may still say 304 (DESIGN: stale for at most seconds).
    clock.advance(TTL_S / 2)
    assert _poll(polled, token, cursor).status_code == 304
    clock.advance(TTL_S / 2)
    delta = _poll(polled, token, cursor)
    assert delta.status_code == 200
    assert delta.json["full"] is False
    assert [p["name"] for p in delta.json["playlists"]] == ["renamed"]
    assert delta.json["cursor"] != cursor
    assert _poll(polled, token, delta.json["cursor"]).status_code == 304


def test_a_poll_after_a_nudge_is_never_answered_from_the_stale_cache(
    two_workers: tuple[Api, Api],
) -> None:
    """A nudged player asks with ``Cache-Control: no-cache``: the edit committed by
    another worker a moment ago is in the answer, with no wait for the cache's TTL."""
    polled, edited = two_workers
    admin, token, playlist_id, _ = _scheduled_device(edited)
    cursor = _poll(polled, token).json["cursor"]
    assert _poll(polled, token, cursor).status_code == 304  # caches the revision
    edited.call("PUT", f"/v1/playlists/{playlist_id}", admin, json={"name": "new", "items": []})
    assert _poll(polled, token, cursor).status_code == 304  # stale, as DESIGN §4 allows
    fresh = polled.call(
        "GET",
        "/v1/device/manifest",
        token,
        params={"since": cursor},
        headers={"Cache-Control": "no-cache"},
    )
    assert fresh.status_code == 200
    assert [p["name"] for p in fresh.json["playlists"]] == ["new"]


def test_edit_through_the_same_worker_is_visible_at_once(
    two_workers: tuple[Api, Api],
) -> None:
    api, _ = two_workers
    admin, token, playlist_id, _ = _scheduled_device(api)
    cursor = _poll(api, token).json["cursor"]
    assert _poll(api, token, cursor).status_code == 304
    api.call("PUT", f"/v1/playlists/{playlist_id}", admin, json={"name": "now", "items": []})
    delta = _poll(api, token, cursor)  # no clock advance
    assert delta.status_code == 200
    assert [p["name"] for p in delta.json["playlists"]] == ["now"]


def test_a_cursor_newer_than_the_cache_is_checked_in_the_database(
    two_workers: tuple[Api, Api],
) -> None:
    polled, edited = two_workers
    admin, token, playlist_id, _ = _scheduled_device(edited)
    cursor = _poll(polled, token).json["cursor"]
    assert _poll(polled, token, cursor).status_code == 304
    edited.call("PUT", f"/v1/playlists/{playlist_id}", admin, json={"name": "b", "items": []})
    # The device learnt the newer cursor from the other worker: not a full snapshot here.
    newer = _poll(edited, token, cursor).json["cursor"]
    again = _poll(polled, token, newer)
    assert again.status_code == 304
    assert again.headers["etag"] == f'"{newer}"'


def test_cached_304_opens_no_database_connection(
    settings_env: dict[str, str], clock: FakeMonotonic
) -> None:
    env = {
        **settings_env,
        "LOMUZ_TOKEN_CACHE_S": "60",
        "LOMUZ_LAST_SEEN_WRITE_S": "60",
        "LOMUZ_REVISION_CACHE_S": "60",
    }
    settings = load_settings(env)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(settings, monotonic=clock)
    try:
        api = Api(CheckedClient(app), app, app.deps.db)
        _, token, _, _ = _scheduled_device(api)
        cursor = _poll(api, token).json["cursor"]
        assert _poll(api, token, cursor).status_code == 304  # fills the caches
        counter = CheckoutCounter(api.db)
        for _ in range(20):
            assert _poll(api, token, cursor).status_code == 304
        assert counter.count == 0
        assert _poll(api, token).status_code == 200  # a full snapshot still reads
        assert counter.count >= 1
    finally:
        app.close()


def test_playlist_edit_adding_an_asset_brings_that_asset_in_the_delta(api: Api) -> None:
    admin, token, playlist_id, first_id = _scheduled_device(api)
    cursor = _poll(api, token).json["cursor"]
    new = api.upload(admin, wav(b"a brand new song"), title="new").json
    edited = api.call(
        "PUT",
        f"/v1/playlists/{playlist_id}",
        admin,
        json={"name": "p", "items": [{"asset_id": first_id}, {"asset_id": new["id"]}]},
    )
    assert edited.status_code == 200, edited.text
    delta = _poll(api, token, cursor).json
    assert delta["full"] is False
    [playlist] = delta["playlists"]
    assert [i["asset_id"] for i in playlist["items"]] == [first_id, new["id"]]
    by_id = {a["id"]: a for a in delta["assets"]}
    assert new["id"] in by_id, "the delta refers to an asset it does not carry"
    assert by_id[new["id"]]["sha256"] == new["sha256"]
    assert by_id[new["id"]]["url"] == f"/v1/media/{new['sha256']}"
    assert delta["deleted"] == {"assets": [], "playlists": [], "schedules": [], "overrides": []}


# ---------------------------------------------------------------- the cache alone


def test_entries_expire_after_the_ttl(clock: FakeMonotonic) -> None:
    cache = RevisionCache(1.0, monotonic=clock)
    cache.put("t", (5, 0), cache.generation())
    assert cache.get("t") == (5, 0)
    clock.advance(0.99)
    assert cache.get("t") == (5, 0)
    clock.advance(0.01)
    assert cache.get("t") is None


def test_a_read_that_started_before_an_invalidation_is_not_cached(clock: FakeMonotonic) -> None:
    cache = RevisionCache(1.0, monotonic=clock)
    generation = cache.generation()  # a poll starts reading revision 5 ...
    cache.invalidate("t")  # ... an edit commits revision 6 meanwhile
    cache.put("t", (5, 0), generation)
    assert cache.get("t") is None


def test_the_cache_is_bounded_and_drops_the_oldest(clock: FakeMonotonic) -> None:
    cache = RevisionCache(10.0, max_entries=3, monotonic=clock)
    for i in range(5):
        cache.put(f"t{i}", (i, 0), cache.generation())
    assert len(cache) == 3
    assert cache.get("t0") is None and cache.get("t1") is None
    assert cache.get("t4") == (4, 0)


def test_zero_ttl_disables_the_cache(clock: FakeMonotonic) -> None:
    cache = RevisionCache(0.0, monotonic=clock)
    cache.put("t", (1, 0), cache.generation())
    assert cache.get("t") is None


def test_revision_cache_setting_is_validated(settings_env: dict[str, str]) -> None:
    from control_api.errors import ConfigError

    assert load_settings(settings_env).revision_cache_s == 1.0
    assert load_settings({**settings_env, "LOMUZ_REVISION_CACHE_S": "0.5"}).revision_cache_s == 0.5
    with pytest.raises(ConfigError, match="LOMUZ_REVISION_CACHE_S"):
        load_settings({**settings_env, "LOMUZ_REVISION_CACHE_S": "soon"})


def test_a_nudge_burst_computes_one_delta_per_scope(api: Api) -> None:
    """Every device of a scope asks for the same delta after a nudge: the second is
    served the plan computed for the first (counted on /metrics), with its own device
    block; a device a schedule targets by id gets its own."""
    admin, first, playlist_id, asset_id = _scheduled_device(api)
    second = api.device(admin, "second")[1]
    targeted_id, targeted = api.device(admin, "third")
    own = {"playlist_id": playlist_id, "target": {"device_id": targeted_id}}
    assert api.call("POST", "/v1/schedules", admin, json=own).status_code == 201
    cursors = {token: _poll(api, token).json["cursor"] for token in (first, second, targeted)}
    before = samples(api.call("GET", "/metrics", METRICS_TOKEN).content)
    body = {"name": "after the nudge", "items": [{"asset_id": asset_id}]}
    assert api.call("PUT", f"/v1/playlists/{playlist_id}", admin, json=body).status_code == 200

    deltas = [_poll(api, token, cursors[token]).json for token in (first, second, targeted)]
    assert [[p["name"] for p in d["playlists"]] for d in deltas] == [["after the nudge"]] * 3
    assert [d["device"]["name"] for d in deltas] == ["box", "second", "third"]
    after = samples(api.call("GET", "/metrics", METRICS_TOKEN).content)
    shared = ("lomuz_manifests_shared_total", (("kind", "delta"),))
    served = ("lomuz_manifests_served_total", (("kind", "delta"),))
    assert after[served] - before[served] == 3
    assert after[shared] - before[shared] == 2  # the targeted box's was its own
