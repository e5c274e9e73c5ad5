"""What reaches the output: only allowed media, never faster than one item a second."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lomuz_rules.media_format import MediaFormat
from lomuz_rules.model import Decision, Tier
from player.composition import StoreSource
from player.core.model import Outcome
from player.runtime.playback import PlaybackLoop
from player.store import PlayerStore
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

HLS = (
    b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n"
    b"#EXTINF:10,\nhttp://127.0.0.1:9/seg0.ts\n#EXT-X-ENDLIST\n"
)


@pytest.fixture
def loops() -> Iterator[list[PlaybackLoop]]:
    started: list[PlaybackLoop] = []
    yield started
    for loop in started:
        loop.stop()


def _run(
    loops: list[PlaybackLoop],
    source: FakeSource,
    clock: FakeClock,
    out: FakeOutput,
    media_path: Callable[[str], Path] = fake_media_path,
    **kwargs: object,
) -> PlaybackLoop:
    loop = start_on_fake_clock(source, clock, out, media_path=media_path, **kwargs)
    loops.append(loop)
    return loop


def _source(clock: FakeClock, script: Callable[[int, datetime], Decision]) -> FakeSource:
    return FakeSource(script, now=clock.now, mono=clock.monotonic)


def test_an_hls_playlist_delivered_as_audio_never_reaches_the_output(
    loops: list[PlaybackLoop],
    fake_clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = fake_clock
    (tmp_path / "hls.wav").write_bytes(HLS)
    write_tone(tmp_path / "b.wav", 440.0, 200)
    source = _source(clock, lambda n, at: decision("hls" if n % 2 == 0 else "b"))
    out = FakeOutput(lengths={"b.wav": 200})
    _run(loops, source, clock, out, lambda sha: tmp_path / f"{sha.removeprefix('sha-')}.wav")
    clock.run_for(1.0)
    plays = source.plays
    assert len(plays) >= 3
    assert "hls.wav" not in out.names("prepare")
    refused = [p for p in plays if p.asset_id == "hls"]
    assert refused and {p.outcome for p in refused} == {Outcome.ERROR}
    assert any(p.asset_id == "b" and p.outcome == Outcome.COMPLETED for p in plays)
    # The allowed file is handed over with the format the loop found: the
    # output does not read it again to choose libvlc's demuxer.
    assert out.formats["b.wav"] is MediaFormat.WAV
    assert source.quarantined[0].sha256 == "sha-hls"
    assert "not an allowed media format" in source.quarantined[0].reason
    assert sum("not playing playlist hls" in r.getMessage() for r in caplog.records) == 1


def test_a_refused_jingle_is_an_error_and_does_not_spin(
    loops: list[PlaybackLoop], fake_clock: FakeClock, tmp_path: Path
) -> None:
    clock = fake_clock
    jingle = tmp_path / "jingle.wav"
    jingle.write_bytes(HLS)
    source = _source(clock, lambda n, at: decision(None, tier=Tier.JINGLE))
    out = FakeOutput()
    loop = _run(loops, source, clock, out, jingle_path=jingle)
    clock.run_for(2.0)
    loop.stop()
    assert out.names("prepare") == []
    assert {(p.asset_id, p.outcome) for p in source.plays} == {("jingle", Outcome.ERROR)}
    assert source.quarantined == []  # the fallback itself is never quarantined
    # the back-off, not a busy loop: tries at 0, 0.25, 0.75 and 1.75 s
    assert len(source.decide_calls) == 4


def _rate_per_s(monos: list[float], window_s: float) -> float:
    return len(monos) / window_s


@pytest.mark.parametrize("case", ["1 ms items", "failing at once", "all refused"])
def test_the_loop_records_at_most_one_play_a_second(
    loops: list[PlaybackLoop], fake_clock: FakeClock, tmp_path: Path, case: str
) -> None:
    clock = fake_clock
    media = tmp_path / "media"
    media.mkdir()
    out = FakeOutput()
    if case == "1 ms items":
        source = _source(clock, lambda n, at: decision(f"x{n % 3}", play_duration_ms=1))
    elif case == "failing at once":
        # a new file each time (the failing ones are quarantined), each fails on start
        source = _source(clock, lambda n, at: decision(f"x{n}"))
        out = FakeOutput(fail_on_start={f"x{n}.wav" for n in range(500)})
    else:
        source = _source(clock, lambda n, at: decision(f"x{n}"))

    def media_path(sha: str) -> Path:
        path = media / f"{sha.removeprefix('sha-')}.wav"
        if not path.exists():
            if case == "all refused":
                path.write_bytes(HLS)
            else:
                write_tone(path, 440.0, 5)
        return path

    # the real minimum interval (the fixture's loops have none)
    loop = _run(loops, source, clock, out, media_path, min_item_interval_s=1.0)
    clock.run_for(4.0)
    loop.stop()
    # one at the start, then at most one per second: 0, 1, 2, 3 and 4 s
    assert 4 <= len(source.plays) <= 5, (case, len(source.plays))
    starts = [p.started_at for p in source.plays]
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= timedelta(seconds=1)


# -- with the real store: a playlist of 1 ms items ---------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PlayerStore]:
    opened = PlayerStore.open(tmp_path / "player.db")
    try:
        opened.catalogue.apply_manifest(
            manifest(
                [asset("a"), asset("b")],
                [playlist("p", "a", "b", durations={0: 1, 1: 1})],
                [schedule("s", "p")],
            )
        )
        for a in opened.catalogue.all_assets():
            opened.files.mark_file_verified(a.sha256, a.size_bytes, T0)
        yield opened
    finally:
        opened.close()


def test_a_playlist_of_1_ms_items_plays_each_for_a_second(
    store: PlayerStore, tmp_path: Path, loops: list[PlaybackLoop], fake_clock: FakeClock
) -> None:
    clock = fake_clock
    by_sha = {a.sha256: a.id for a in store.catalogue.all_assets()}
    for asset_id in by_sha.values():
        write_tone(tmp_path / f"{asset_id}.wav", 440.0, 3000)
    decided = store.decisions.decide(clock.now(), Tier.JINGLE)
    assert decided.play_duration_ms == 1000
    out = FakeOutput(lengths={"a.wav": 3000, "b.wav": 3000})
    loops.append(
        start_on_fake_clock(
            StoreSource(store, Tier.JINGLE),
            clock,
            out,
            media_path=lambda sha: tmp_path / f"{by_sha[sha]}.wav",
            min_item_interval_s=1.0,
        )
    )
    clock.run_for(3.5)
    plays = [p for p, _ in store.outbox.local_plays()]
    assert [(p.asset_id, p.outcome) for p in plays] == [
        ("a", Outcome.COMPLETED),
        ("b", Outcome.COMPLETED),
        ("a", Outcome.COMPLETED),
    ]
    for play in plays:
        assert play.ended_at - play.started_at == timedelta(seconds=1)


def test_mark_started_carries_the_plays_id_and_planned_end(
    loops: list[PlaybackLoop], fake_clock: FakeClock, tmp_path: Path
) -> None:
    tone = write_tone(tmp_path / "a.wav", 440.0, 3000)
    source = _source(fake_clock, lambda n, at: decision("a", play_duration_ms=1500))
    _run(loops, source, fake_clock, FakeOutput(lengths={"a.wav": 3000}), lambda sha: tone)
    fake_clock.run_for(1.51)
    play = source.plays[0]
    play_id, planned_end_at = source.in_progress[0]
    assert play_id == play.id
    assert isinstance(planned_end_at, datetime)
    assert planned_end_at - play.started_at == timedelta(milliseconds=1500)
