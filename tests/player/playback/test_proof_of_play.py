"""Proof of play: recorded at the real end with the real outcome; rotation advanced at the start."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lomuz_rules.model import Decision, Tier
from player.adapters.null_output import NullOutput
from player.composition import StoreSource
from player.core.model import Outcome, Play
from player.daemon import Daemon
from player.ports import MediaOutput
from player.runtime.playback import PlaybackLoop
from player.settings import Settings
from player.store import PlayerStore
from player.wire import encode_play
from tests.fakes.clock import FakeClock
from tests.player.core.builders import T0, asset, manifest, playlist, schedule
from tests.player.playback.fakes import (
    FakeOutput,
    FakeSource,
    decision,
    fake_media_path,
    start_on_fake_clock,
    write_tone,
)


def cycle(*names: str) -> object:
    return lambda n, at: decision(names[n % len(names)])


def run_loop(
    source: FakeSource, clock: FakeClock, output: MediaOutput, **kw: float
) -> PlaybackLoop:
    kw.setdefault("min_item_interval_s", 0.0)  # sub-second items, no throttle here
    loop = PlaybackLoop(
        source,
        clock,
        output,
        fake_media_path,
        **kw,  # type: ignore[arg-type]
    )
    loop.start()
    return loop


def wait_for(predicate: object, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)


def _source(clock: FakeClock, *names: str) -> FakeSource:
    return FakeSource(cycle(*names), now=clock.now, mono=clock.monotonic)  # type: ignore[arg-type]


def test_stop_in_the_last_500_ms_records_skipped_with_the_real_end(
    fake_clock: FakeClock,
) -> None:
    clock = fake_clock
    source = _source(clock, "a", "b")
    out = FakeOutput(lengths={"a.wav": 1_000, "b.wav": 1_000})
    loop = start_on_fake_clock(source, clock, out, prepare_lead_ms=500)
    clock.run_for(0.5)  # the hand-over of A happens at 0.5 s
    assert len(source.decide_calls) == 2
    assert source.plays == []  # A is not claimed before its end
    clock.run_for(0.2)
    loop.stop()
    assert [(p.asset_id, p.outcome) for p in source.plays] == [("a", Outcome.SKIPPED)]
    a = source.plays[0]
    assert a.ended_at == clock.now() == source.recorded_at[0]
    assert a.ended_at - a.started_at == timedelta(milliseconds=700)
    assert "b.wav" not in out.names("start")  # B was prepared, never played, never recorded


def test_skip_in_the_last_500_ms_records_skipped_and_plays_the_next(
    fake_clock: FakeClock,
) -> None:
    clock = fake_clock
    source = _source(clock, "a", "b")
    out = FakeOutput(lengths={"a.wav": 1_000, "b.wav": 200})
    loop = start_on_fake_clock(source, clock, out, prepare_lead_ms=500)
    try:
        clock.run_for(0.6)
        assert len(source.decide_calls) == 2
        loop.request_skip()
        clock.run_for(0.21)
    finally:
        loop.stop()
    plays = source.plays
    assert [(p.asset_id, p.outcome) for p in plays[:2]] == [
        ("a", Outcome.SKIPPED),
        ("b", Outcome.COMPLETED),
    ]
    assert plays[0].ended_at - plays[0].started_at == timedelta(milliseconds=600)
    assert plays[1].started_at == plays[0].ended_at


@pytest.mark.parametrize("overlap", [True, False])
def test_a_plays_end_is_never_later_than_its_recording(
    fake_clock: FakeClock, overlap: bool
) -> None:
    clock = fake_clock
    source = _source(clock, "a", "b", "c")
    out = FakeOutput(lengths={"a.wav": 150, "b.wav": 250, "c.wav": 150}, overlap=overlap)
    loop = start_on_fake_clock(source, clock, out, crossfade_ms=50)
    try:
        clock.run_for(1.2)
    finally:
        loop.stop()
    plays = list(source.plays)
    assert len(plays) >= 5
    assert len(source.recorded_at) == len(plays)
    for play, recorded_at in zip(plays, source.recorded_at, strict=True):
        assert play.started_at <= play.ended_at <= recorded_at
    # every started item was marked started once, before its play was recorded
    started = [(asset_id, at) for asset_id, at, _ in source.started]
    for play in plays:
        assert (play.asset_id, play.started_at) in started


def test_a_tail_cut_by_stop_is_skipped(fake_clock: FakeClock) -> None:
    # a long crossfade keeps A sounding after B started; a stop then cuts both
    clock = fake_clock
    source = _source(clock, "a", "b")
    out = FakeOutput(lengths={"a.wav": 600, "b.wav": 5_000})
    loop = start_on_fake_clock(source, clock, out, crossfade_ms=400, prepare_lead_ms=500)
    clock.run_for(0.19)  # B starts at 0.18 s (600 - 20 - 400 ms)
    assert "b.wav" in out.names("start")
    loop.stop()
    assert sorted((p.asset_id, p.outcome) for p in source.plays) == [
        ("a", Outcome.SKIPPED),
        ("b", Outcome.SKIPPED),
    ]
    for play, recorded_at in zip(source.plays, source.recorded_at, strict=True):
        assert play.ended_at <= recorded_at


# -- with the real store ------------------------------------------------------------------


class _RecordingSource(StoreSource):
    def __init__(self, store: PlayerStore) -> None:
        super().__init__(store, Tier.JINGLE)
        self.plays: list[Play] = []
        self.decisions: list[Decision] = []
        self.changed = threading.Condition()

    def decide(self, at: datetime) -> Decision:
        d = super().decide(at)
        self.decisions.append(d)
        return d

    def record_play(self, play: Play) -> None:
        super().record_play(play)
        with self.changed:
            self.plays.append(play)
            self.changed.notify_all()

    def wait_plays(self, count: int, timeout_s: float = 8.0) -> list[Play]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.plays) >= count, timeout_s)
            return list(self.plays)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PlayerStore]:
    opened = PlayerStore.open(tmp_path / "player.db")
    try:
        opened.catalogue.apply_manifest(
            manifest([asset("a"), asset("b")], [playlist("p", "a", "b", "a")], [schedule("s", "p")])
        )
        for a in opened.catalogue.all_assets():
            opened.files.mark_file_verified(a.sha256, a.size_bytes, T0)
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("backend", ["null", "fake"])
def test_round_robin_by_position_with_the_real_store(
    store: PlayerStore, tmp_path: Path, clock: FakeClock, backend: str
) -> None:
    by_sha = {a.sha256: a.id for a in store.catalogue.all_assets()}
    for asset_id in by_sha.values():
        write_tone(tmp_path / f"{asset_id}.wav", 440.0, 250)
    output: MediaOutput = (
        NullOutput() if backend == "null" else FakeOutput(lengths={"a.wav": 250, "b.wav": 250})
    )
    source = _RecordingSource(store)
    # items shorter than prepare_lead: B is decided right after A started, long
    # before A's Play exists, so only mark_started keeps A out of that decision
    loop = PlaybackLoop(source, clock, output, lambda sha: tmp_path / f"{by_sha[sha]}.wav")
    loop.start()
    try:
        plays = source.wait_plays(6)
    finally:
        loop.stop()
    assert [(p.asset_id, p.playlist_position) for p in plays[:6]] == [
        ("a", 0),
        ("b", 1),
        ("a", 2),
        ("a", 0),
        ("b", 1),
        ("a", 2),
    ]
    assert {p.outcome for p in plays[:6]} == {Outcome.COMPLETED}
    stored = [p for p, _ in store.outbox.local_plays()]
    assert [p.id for p in stored] == [p.id for p in source.plays]
    assert all(p.playlist_position is None for p in stored)  # local to the loop


def _rotation(store: PlayerStore) -> list[tuple[int, str, object]]:
    with store.db._engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT position, asset_id, last_played_at FROM rotation ORDER BY position"
        ).all()
    return [tuple(r) for r in rows]


def test_mark_started_advances_rotation_without_a_play_and_record_play_adds_only_the_play(
    store: PlayerStore,
) -> None:
    store.rotation.mark_started(
        asset_id="a",
        sha256=asset("a").sha256,
        source=Tier.PLAYLIST,
        started_at=T0,
        playlist_id="p",
        playlist_position=0,
    )
    assert store.decisions.decide(T0 + timedelta(seconds=1)).playlist_position == 1
    assert store.outbox.pending_plays(10) == []
    rotation = _rotation(store)
    store.rotation.mark_started(
        asset_id="a",
        sha256=asset("a").sha256,
        source=Tier.PLAYLIST,
        started_at=T0,
        playlist_id="p",
        playlist_position=0,
    )
    assert _rotation(store) == rotation  # idempotent
    play = Play(
        id="p1",
        asset_id="a",
        sha256=asset("a").sha256,
        started_at=T0,
        ended_at=T0 + timedelta(minutes=3),
        source=Tier.PLAYLIST,
        outcome=Outcome.COMPLETED,
        schedule_id="s",
        playlist_id="p",
    )
    store.outbox.record_play(play)  # no position: must not advance the other "a" (position 2)
    assert _rotation(store) == rotation
    assert [p.id for p in store.outbox.pending_plays(10)] == ["p1"]
    assert store.decisions.decide(T0 + timedelta(minutes=3)).playlist_position == 1


def test_a_crash_between_start_and_end_leaves_rotation_advanced_and_no_play(
    tmp_path: Path, store: PlayerStore
) -> None:
    store.rotation.mark_started(
        asset_id="a",
        sha256=asset("a").sha256,
        source=Tier.PLAYLIST,
        started_at=T0,
        playlist_id="p",
        playlist_position=0,
    )
    store.close()  # power cut before A's end: no record_play
    with PlayerStore.open(tmp_path / "player.db") as reopened:
        assert reopened.outbox.pending_plays(10) == []
        assert reopened.outbox.local_plays() == []
        nxt = reopened.decisions.decide(T0 + timedelta(seconds=5))
        assert (nxt.asset_id, nxt.playlist_position) == ("b", 1)


def test_mark_started_rejects_a_naive_instant_and_changes_nothing(store: PlayerStore) -> None:
    before = _rotation(store)
    with pytest.raises(ValueError, match="started_at must be timezone-aware"):
        store.rotation.mark_started(
            asset_id="a",
            sha256=asset("a").sha256,
            source=Tier.PLAYLIST,
            started_at=T0.replace(tzinfo=None),
            playlist_id="p",
            playlist_position=0,
        )
    assert _rotation(store) == before


def test_playlist_position_is_not_on_the_wire() -> None:
    play = Play(
        id="x",
        asset_id="a",
        sha256="0" * 64,
        started_at=T0,
        ended_at=T0,
        source=Tier.PLAYLIST,
        outcome=Outcome.COMPLETED,
        playlist_id="p",
        playlist_position=2,
    )
    encoded = encode_play(play)
    assert "playlist_position" not in encoded
    assert encoded["playlist_id"] == "p"


def test_daemon_status_shows_whether_the_output_mixes(tmp_path: Path) -> None:
    daemon = Daemon(Settings(data_dir=tmp_path / "data"), {}, output=FakeOutput(overlap=False))
    daemon.start()
    try:
        assert daemon.started.is_set()
        wait_for(lambda: daemon.parts.loop.now_playing().state == "playing")
        now_playing = daemon.status()["now_playing"]
        assert now_playing["state"] == "playing"
        assert now_playing["supports_overlap"] is False
    finally:
        daemon.shutdown()


def test_a_clock_step_mid_item_does_not_change_the_recorded_length(
    fake_clock: FakeClock,
) -> None:
    # The first API Date offset (1 s resolution) steps the corrected clock; the
    # play's length must still be what actually played, measured on monotonic.
    clock = fake_clock
    source = _source(clock, "a", "b")
    out = FakeOutput(lengths={"a.wav": 600, "b.wav": 600})
    loop = start_on_fake_clock(source, clock, out, prepare_lead_ms=100)
    clock.run_for(0.2)
    clock.step(-0.4)  # corrected time jumps back 0.4 s while A plays
    clock.run_for(0.41)
    loop.stop()
    a = source.plays[0]
    assert a.asset_id == "a"
    assert a.outcome == Outcome.COMPLETED
    assert a.ended_at - a.started_at == timedelta(milliseconds=600)
