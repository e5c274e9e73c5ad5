"""A power cut during an item: the next start records it as ``skipped``, once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lomuz_rules.model import Tier
from player.core.model import Outcome, Play
from player.store import PlayerStore
from tests.player.core.builders import T0, asset, manifest, playlist, schedule


def _catalogue(store: PlayerStore) -> str:
    store.catalogue.apply_manifest(
        manifest([asset("a")], [playlist("p", "a")], [schedule("s", "p")])
    )
    return store.catalogue.all_assets()[0].sha256


def _start(store: PlayerStore, sha256: str, started_at: datetime, length_s: float) -> str:
    play_id = str(uuid.uuid4())
    store.rotation.mark_started(
        asset_id="a",
        sha256=sha256,
        source=Tier.PLAYLIST,
        started_at=started_at,
        playlist_id="p",
        playlist_position=0,
        play_id=play_id,
        planned_end_at=started_at + timedelta(seconds=length_s),
        schedule_id="s",
    )
    return play_id


def test_an_item_cut_by_a_power_cut_becomes_one_skipped_play(db_path: Path) -> None:
    store = PlayerStore.open(db_path)
    sha256 = _catalogue(store)
    play_id = _start(store, sha256, T0, 180)
    store.rotation.mark_alive(T0 + timedelta(seconds=60))
    store.db._engine.dispose()  # the power goes: no close, no record_play
    reopened = PlayerStore.open(db_path)
    try:
        recovered = reopened.rotation.recover_interrupted_plays()
        assert [(p.id, p.outcome, p.source, p.schedule_id, p.playlist_id) for p in recovered] == [
            (play_id, Outcome.SKIPPED, Tier.PLAYLIST, "s", "p")
        ]
        assert recovered[0].started_at == T0
        assert recovered[0].ended_at == T0 + timedelta(seconds=60)
        local = reopened.outbox.local_plays()
        assert [(p.id, uploaded) for p, uploaded in local] == [(play_id, False)]
        assert [p.id for p in reopened.outbox.pending_plays(10)] == [play_id]
        # a second start (or a second crash before the upload) adds nothing
        assert reopened.rotation.recover_interrupted_plays() == []
        assert len(reopened.outbox.local_plays()) == 1
    finally:
        reopened.close()


def test_a_recorded_play_leaves_nothing_to_recover(store: PlayerStore) -> None:
    sha256 = _catalogue(store)
    play_id = _start(store, sha256, T0, 10)
    store.outbox.record_play(
        Play(
            id=play_id,
            asset_id="a",
            sha256=sha256,
            started_at=T0,
            ended_at=T0 + timedelta(seconds=10),
            source=Tier.PLAYLIST,
            outcome=Outcome.COMPLETED,
            schedule_id="s",
            playlist_id="p",
        )
    )
    assert store.rotation.recover_interrupted_plays(T0 + timedelta(seconds=30)) == []
    assert [p.outcome for p, _ in store.outbox.local_plays()] == [Outcome.COMPLETED]


def test_a_hand_over_leaves_two_in_progress_and_each_is_recovered(store: PlayerStore) -> None:
    sha256 = _catalogue(store)
    first = _start(store, sha256, T0, 10)
    second = _start(store, sha256, T0 + timedelta(seconds=9.98), 10)
    recovered = store.rotation.recover_interrupted_plays(T0 + timedelta(seconds=10))
    assert sorted(p.id for p in recovered) == sorted([first, second])
    by_id = {p.id: p for p in recovered}
    assert by_id[first].ended_at == T0 + timedelta(seconds=10)
    assert by_id[second].ended_at == T0 + timedelta(seconds=10)


@settings(max_examples=60, deadline=None)
@given(
    length_s=st.floats(0.0, 600.0),
    alive_s=st.one_of(st.none(), st.floats(-100.0, 1000.0)),
    known_s=st.one_of(st.none(), st.floats(-100.0, 1000.0)),
)
def test_the_recovered_end_is_the_last_known_alive_instant_within_the_item(
    tmp_path_factory: pytest.TempPathFactory,
    length_s: float,
    alive_s: float | None,
    known_s: float | None,
) -> None:
    root = tmp_path_factory.mktemp("db")
    store = PlayerStore.open(root / "player.db")
    try:
        sha256 = _catalogue(store)
        _start(store, sha256, T0, length_s)
        if alive_s is not None:
            store.rotation.mark_alive(T0 + timedelta(seconds=alive_s))
        known = None if known_s is None else T0 + timedelta(seconds=known_s)
        [play] = store.rotation.recover_interrupted_plays(known)
        planned_end = T0 + timedelta(seconds=length_s)
        assert T0 <= play.ended_at <= max(T0, planned_end)
        candidates = [s for s in (alive_s, known_s) if s is not None]
        expected = min(planned_end, max([T0, *(T0 + timedelta(seconds=s) for s in candidates)]))
        assert abs(play.ended_at - max(T0, expected)) <= timedelta(microseconds=1)
    finally:
        store.close()


def test_mark_alive_writes_nothing_without_an_item_in_progress(store: PlayerStore) -> None:
    _catalogue(store)
    store.rotation.mark_alive(T0)
    assert store.state.get_raw("playback.in_progress") is None
    assert store.rotation.recover_interrupted_plays(T0) == []
