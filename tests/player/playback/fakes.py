"""Hand-written fakes for the playback loop: clock, decision source, recording output."""

from __future__ import annotations

import atexit
import math
import shutil
import struct
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lomuz_rules.media_format import MediaFormat
from lomuz_rules.model import Decision, MediaType, Tier
from player.core.model import ItemStart, Play
from player.errors import PlaybackError
from player.ports import Inbox, MediaEnded, MediaFailed, MediaStarted, PlaybackSource
from player.runtime.playback import PlaybackLoop
from tests.fakes.clock import FakeClock, FakeTimer

BASE_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def write_tone(path: Path, freq_hz: float, duration_ms: int, rate_hz: int = 44_100) -> Path:
    n = rate_hz * duration_ms // 1000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq_hz * i / rate_hz)))
                for i in range(n)
            )
        )
    return path


_fake_media_dir: Path | None = None


def fake_media_path(sha256: str) -> Path:
    """A real, tiny WAV per fake sha256 (``sha-a`` -> ``a.wav``) in a per-process temp dir.

    ``sha-poster*`` gets PNG bytes (under the same ``.wav`` name) for image decisions.

    The loop reads each file's leading bytes before the output sees it, so
    the fake outputs still need files that exist and are WAV.
    """
    global _fake_media_dir  # noqa: PLW0603 - one lazily made directory per test process
    if _fake_media_dir is None:
        _fake_media_dir = Path(tempfile.mkdtemp(prefix="lomuz-fake-media-"))
        atexit.register(shutil.rmtree, _fake_media_dir, True)
    name = sha256.removeprefix("sha-")
    path = _fake_media_dir / f"{name}.wav"
    if not path.exists():
        if name.startswith("poster"):  # an image asset: a PNG signature and header
            path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17))
        else:
            write_tone(path, 440.0, 10)
    return path


def decision(
    asset_id: str | None,
    *,
    tier: Tier = Tier.PLAYLIST,
    media_type: MediaType | None = MediaType.AUDIO,
    play_duration_ms: int | None = None,
    next_boundary_at: datetime | None = None,
    at: datetime = BASE_AT,
) -> Decision:
    return Decision(
        at=at,
        tier=tier,
        asset_id=asset_id,
        sha256=None if asset_id is None else f"sha-{asset_id}",
        media_type=None if asset_id is None else media_type,
        schedule_id="s1" if tier == Tier.PLAYLIST else None,
        playlist_id="p1" if tier == Tier.PLAYLIST else None,
        play_duration_ms=play_duration_ms,
        reasons=("test",),
        next_boundary_at=next_boundary_at,
    )


@dataclass
class Quarantine:
    sha256: str
    until: datetime
    reason: str
    at_mono: float


class FakeSource:
    """Serves decisions from ``script`` (called with the decision count and ``at``).

    Quarantined sha256s are skipped like the real store does: ``script`` is
    asked again with the next count.
    """

    def __init__(
        self,
        script: Callable[[int, datetime], Decision],
        now: Callable[[], datetime] | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._script = script
        self._now = now
        self._mono = mono
        self._lock = threading.Lock()
        self.decide_calls: list[datetime] = []
        self.started: list[tuple[str, datetime, int | None]] = []  # asset, started_at, position
        self.in_progress: list[tuple[str, datetime | None]] = []  # play id, planned end
        self.alive: list[datetime] = []
        self.plays: list[Play] = []
        self.play_monos: list[float] = []
        self.recorded_at: list[datetime] = []  # ``now()`` when each play was recorded
        self.quarantined: list[Quarantine] = []
        self.log: list[str] = []  # "decide" / "record:<asset>" in call order
        self.played = threading.Condition(self._lock)

    def decide(self, at: datetime) -> Decision:
        with self._lock:
            quarantined = {q.sha256 for q in self.quarantined}
            while True:
                self.decide_calls.append(at)
                d = self._script(len(self.decide_calls) - 1, at)
                if d.sha256 is None or d.sha256 not in quarantined:
                    break
            self.log.append("decide")
            return d

    def mark_started(self, start: ItemStart) -> None:
        with self._lock:
            self.started.append(
                (start.asset_id, start.started_at, start.decision.playlist_position)
            )
            self.in_progress.append((start.play_id, start.planned_end_at))
            self.log.append(f"start:{start.asset_id}")

    def mark_alive(self, at: datetime) -> None:
        with self._lock:
            self.alive.append(at)

    def record_play(self, play: Play) -> None:
        with self._lock:
            if self._now is not None:
                self.recorded_at.append(self._now())
            self.plays.append(play)
            self.play_monos.append(self._mono())
            self.log.append(f"record:{play.asset_id}")
            self.played.notify_all()

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        with self._lock:
            self.quarantined.append(Quarantine(sha256, until, reason, self._mono()))

    def wait_plays(self, count: int, timeout_s: float = 5.0) -> list[Play]:
        with self._lock:
            ok = self.played.wait_for(lambda: len(self.plays) >= count, timeout_s)
            assert ok, f"only {len(self.plays)} plays after {timeout_s} s: {self.plays}"
            return list(self.plays)


@dataclass
class _FakeItem:
    path: Path
    length_ms: int | None
    timer: threading.Timer | FakeTimer | None = None
    playing: bool = False


@dataclass
class FakeOutput:
    """Records every command with its monotonic time; ends items after their length.

    ``lengths`` maps a file name to its natural length (None: unknown);
    names in ``fail_on_start`` yield ``MediaFailed``; names in ``unopenable``
    raise ``PlaybackError`` in ``prepare``; while ``no_audio_output`` is set,
    ``audio_problem`` reports it for every playing item. With a ``clock``,
    items end and commands are timed on that fake clock (else real time).
    """

    lengths: dict[str, int | None] = field(default_factory=dict)
    fail_on_start: set[str] = field(default_factory=set)
    unopenable: set[str] = field(default_factory=set)
    overlap: bool = True
    no_audio_output: str | None = None
    clock: FakeClock | None = None
    commands: list[tuple[float, str, object]] = field(default_factory=list)
    # The format each file was handed over as (the loop identifies it first).
    formats: dict[str, MediaFormat | None] = field(default_factory=dict)
    # The loudness gain each file was prepared with (the last time).
    gains_db: dict[str, float] = field(default_factory=dict)
    _events: Inbox | None = None
    _items: dict[int, _FakeItem] = field(default_factory=dict)
    _next: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def supports_overlap(self) -> bool:
        return self.overlap

    def _log(self, name: str, arg: object) -> None:
        with self._lock:
            at = time.monotonic() if self.clock is None else self.clock.monotonic()
            self.commands.append((at, name, arg))

    def names(self, command: str) -> list[object]:
        with self._lock:
            return [arg for _, name, arg in self.commands if name == command]

    def attach(self, events: Inbox) -> None:
        self._events = events

    def prepare(
        self, path: Path, media_format: MediaFormat | None = None, gain_db: float = 0.0
    ) -> int:
        self._log("prepare", path.name)
        self.formats[path.name] = media_format
        self.gains_db[path.name] = gain_db
        if path.name in self.unopenable:
            raise PlaybackError(f"cannot open {path.name}")
        token = self._next
        self._next += 1
        self._items[token] = _FakeItem(path, self.lengths.get(path.name))
        return token

    def start(self, token: int) -> None:
        item = self._items[token]
        self._log("start", item.path.name)
        assert self._events is not None
        if item.path.name in self.fail_on_start:
            self._events.put(MediaFailed(token, "fake failure"))
            return
        self._events.put(MediaStarted(token))
        item.playing = True
        if item.length_ms is not None and self.clock is not None:
            item.timer = self.clock.call_later(item.length_ms / 1000, self._end, token)
        elif item.length_ms is not None:
            timer = threading.Timer(item.length_ms / 1000, self._end, (token,))
            timer.start()
            item.timer = timer

    def _end(self, token: int) -> None:
        item = self._items.get(token)
        if item is None or item.timer is None:
            return
        self._log("ended", item.path.name)
        assert self._events is not None
        self._events.put(MediaEnded(token))

    def stop(self, token: int | None = None) -> None:
        for t in list(self._items) if token is None else [token]:
            item = self._items.get(t)
            if item is None:
                continue
            item.playing = False
            if item.timer is not None:
                item.timer.cancel()
                item.timer = None
                self._log("stop", item.path.name)

    def set_volume(self, percent: int) -> None:
        self._log("volume", percent)

    def set_gain(self, token: int, gain: float) -> None:
        item = self._items.get(token)
        self._log("gain", (item.path.name if item else token, round(gain, 2)))

    def length_ms(self, token: int) -> int | None:
        return self._items[token].length_ms

    def position_ms(self, token: int) -> int | None:
        self._log("position", token)
        return None

    def audio_problem(self, token: int) -> str | None:
        self._log("audio_problem", token)
        item = self._items.get(token)
        return self.no_audio_output if item is not None and item.playing else None

    def close(self) -> None:
        self.stop(None)


def start_on_fake_clock(
    source: PlaybackSource,
    clock: FakeClock,
    output: FakeOutput,
    *,
    media_path: Callable[[str], Path] = fake_media_path,
    **kwargs: object,
) -> PlaybackLoop:
    """A started loop that waits on ``clock.inbox()``, its output ending items on ``clock``.

    Nothing happens until the test runs the clock (``clock.run_for``); the loop
    has done all it does at the start instant when this returns.
    """
    output.clock = clock
    kwargs.setdefault("min_item_interval_s", 0.0)  # sub-second items, no throttle here
    loop = PlaybackLoop(
        source,
        clock,
        output,
        media_path,
        inbox=clock.inbox(),
        **kwargs,  # type: ignore[arg-type]
    )
    loop.start()
    clock.settle()
    return loop
