"""Real libvlc (--aout=dummy --vout=dummy) through VlcOutput and the loop."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from lomuz_rules.model import Decision
from player.adapters.vlc_output import HEADLESS_ARGS, VlcOutput, detect_overlap
from player.core.model import Outcome
from player.errors import PlaybackError
from player.ports import MediaEnded, MediaFailed, MediaStarted
from player.runtime.playback import PlaybackLoop
from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import BASE_AT, FakeSource, decision


@pytest.fixture
def output() -> Iterator[VlcOutput]:
    out = VlcOutput(HEADLESS_ARGS)
    yield out
    out.close()


def _next_event(events: queue.Queue[object], timeout_s: float = 2.0) -> object:
    return events.get(timeout=timeout_s)


@pytest.mark.vlc
def test_a_tone_starts_and_ends(output: VlcOutput, tones: dict[str, Path]) -> None:
    events: queue.Queue[object] = queue.Queue()
    output.attach(events)
    token = output.prepare(tones["a"])
    assert output.length_ms(token) == 300
    output.start(token)
    assert _next_event(events) == MediaStarted(token)
    assert _next_event(events) == MediaEnded(token)


@pytest.mark.vlc
def test_corrupt_file_fails_within_a_second(output: VlcOutput, tones: dict[str, Path]) -> None:
    events: queue.Queue[object] = queue.Queue()
    output.attach(events)
    t0 = time.monotonic()
    try:
        token = output.prepare(tones["corrupt"])
    except PlaybackError:
        assert time.monotonic() - t0 < 1.0
        return
    output.start(token)
    failed = [e for e in (_next_event(events), _next_event(events)) if isinstance(e, MediaFailed)]
    assert failed
    assert failed[0].token == token
    assert time.monotonic() - t0 < 1.0 + 0.5  # parse + failure detection


@pytest.mark.vlc
def test_missing_file_is_a_playback_error(output: VlcOutput, tmp_path: Path) -> None:
    with pytest.raises(PlaybackError, match=r"missing\.wav"):
        output.prepare(tmp_path / "missing.wav")


@pytest.mark.vlc
def test_loop_plays_in_order_quarantines_corrupt_and_keeps_the_same_two_players(
    output: VlcOutput, tones: dict[str, Path]
) -> None:
    order = ["a", "corrupt", "b", "c", "a", "b"]

    def script(n: int, at: datetime) -> Decision:
        return decision(order[n % len(order)])

    source = FakeSource(script)
    players_before = output.player_ids
    clock = FakeClock(BASE_AT, real_time=True)
    loop = PlaybackLoop(source, clock, output, lambda sha: tones[sha.removeprefix("sha-")])
    loop.start()
    try:
        recorded = source.wait_plays(6, timeout_s=15)
    finally:
        loop.stop()
    # the corrupt item fails while A's tail still sounds, so it may be recorded first
    plays = sorted(recorded[:6], key=lambda p: p.started_at)
    assert [(p.asset_id, p.outcome) for p in plays] == [
        ("a", Outcome.COMPLETED),
        ("corrupt", Outcome.ERROR),
        ("b", Outcome.COMPLETED),
        ("c", Outcome.COMPLETED),
        ("a", Outcome.COMPLETED),
        ("b", Outcome.COMPLETED),
    ]
    assert [q.sha256 for q in source.quarantined] == ["sha-corrupt"]
    # moved on within a second of the quarantine
    b_recorded_at = source.play_monos[recorded.index(plays[2])]
    assert b_recorded_at - source.quarantined[0].at_mono < 1.0 + 0.4
    assert output.player_ids == players_before


def test_overlap_detection() -> None:
    none: set[Path] = set()
    pulse = {Path("/run/user/1000/pulse/native")}
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/pi"}

    def exists_in(paths: set[Path]) -> object:
        return lambda p: p in paths

    assert detect_overlap(["--aout=dummy"], env, exists_in(none))  # type: ignore[arg-type]
    assert detect_overlap(["--aout=pulse"], env, exists_in(pulse))  # type: ignore[arg-type]
    assert not detect_overlap(["--aout=pulse"], env, exists_in(none))  # type: ignore[arg-type]
    assert detect_overlap([], env, exists_in(pulse))  # type: ignore[arg-type]
    # a Pi with HDMI ALSA and no sound server: one stream only
    hdmi = ["--aout=alsa", "--alsa-audio-device=hw:CARD=vc4hdmi0"]
    assert not detect_overlap(hdmi, env, exists_in(none))  # type: ignore[arg-type]
    dmix = ["--aout=alsa", "--alsa-audio-device=dmix:CARD=Headphones"]
    assert detect_overlap(dmix, env, exists_in(none))  # type: ignore[arg-type]
    asoundrc = {Path("/home/pi/.asoundrc")}
    assert detect_overlap(
        ["--aout=alsa"],
        env,
        exists_in(asoundrc),  # type: ignore[arg-type]
        lambda p: "pcm.!default { type plug; slave.pcm dmixer }\npcm.dmixer { type dmix }",
    )
    assert not detect_overlap(["--aout=alsa"], env, exists_in(none))  # type: ignore[arg-type]


@pytest.mark.vlc
def test_single_player_mode_reported(tones: dict[str, Path]) -> None:
    out = VlcOutput(HEADLESS_ARGS, overlap=False)
    try:
        assert out.supports_overlap is False
        events: queue.Queue[object] = queue.Queue()
        out.attach(events)
        for name in ("a", "b"):
            token = out.prepare(tones[name])
            out.start(token)
            assert _next_event(events) == MediaStarted(token)
            assert _next_event(events) == MediaEnded(token)
    finally:
        out.close()
    out.close()  # idempotent


@pytest.mark.vlc
def test_prestart_arms_the_next_item_on_the_idle_player_and_start_resumes_it(
    tones: dict[str, Path],
) -> None:
    out = VlcOutput(HEADLESS_ARGS)
    try:
        events: queue.Queue[object] = queue.Queue()
        out.attach(events)
        first = out.prepare(tones["a"])
        assert out.is_armed(first)
        out.start(first)
        assert _next_event(events) == MediaStarted(first)
        second = out.prepare(tones["b"])
        assert out.is_armed(second)  # paused at 0 on the other player while A plays
        seen = [_next_event(events)]
        assert seen == [MediaEnded(first)]  # the armed item reports nothing before start
        out.start(second)
        assert _next_event(events) == MediaStarted(second)
        assert _next_event(events) == MediaEnded(second)
        third = out.prepare(tones["c"])
        out.stop(third)  # discarding an armed item stops it; nothing is reported
        assert not out.is_armed(third)
        with pytest.raises(queue.Empty):
            events.get(timeout=0.5)
    finally:
        out.close()


@pytest.mark.vlc
def test_a_playing_item_reaches_the_dummy_output(tmp_path: Path) -> None:
    from tests.player.playback.fakes import write_tone

    tone = write_tone(tmp_path / "long.wav", 440.0, 3000)
    out = VlcOutput(HEADLESS_ARGS)
    try:
        events: queue.Queue[object] = queue.Queue()
        out.attach(events)
        token = out.prepare(tone)
        out.start(token)
        assert _next_event(events) == MediaStarted(token)
        time.sleep(1.5)
        assert out.audio_problem(token) is None
    finally:
        out.close()


@pytest.mark.vlc
def test_no_sound_device_is_reported_and_alsa_stays_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.player.playback.fakes import write_tone

    tone = write_tone(tmp_path / "long.wav", 440.0, 3000)
    # An ALSA device that cannot open: what a box without a sound card has.
    out = VlcOutput(
        ["--aout=alsa", "--alsa-audio-device=lomuz_no_such_pcm", "--vout=dummy", "--quiet"]
    )
    try:
        events: queue.Queue[object] = queue.Queue()
        out.attach(events)
        token = out.prepare(tone)
        out.start(token)
        deadline = time.monotonic() + 3.0
        problem = None
        while problem is None and time.monotonic() < deadline:
            time.sleep(0.1)
            problem = out.audio_problem(token)
        assert problem is not None
        assert "no audio output" in problem
        assert "alsa" in problem
    finally:
        out.close()
    assert "ALSA lib" not in capfd.readouterr().err


def test_overlap_detection_survives_a_runtime_dir_it_may_not_read(tmp_path: Path) -> None:
    """Under ProtectHome=yes /run/user is inaccessible: Path.exists raises there."""
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root to probe as another user")
    hidden = tmp_path / "run-user"
    (hidden / "pulse").mkdir(parents=True)
    (hidden / "pulse" / "native").touch()
    hidden.chmod(0o700)
    tmp_path.chmod(0o755)
    env = {"XDG_RUNTIME_DIR": str(hidden), "HOME": "/nonexistent"}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the service user's view of the file system
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            code = 0 if detect_overlap([], env) is False else 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    os.close(write)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "detect_overlap raised or found a server"
