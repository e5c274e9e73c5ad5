"""libvlc endurance: many short items through PlaybackLoop + VlcOutput, resources watched.

Used by ``test_vlc_endurance.py`` (CI, ~200 transitions) and
``scripts/soak/vlc_endurance.py`` (>= 2,000). One VlcOutput (one libvlc
instance, a fixed pair of media players) for the whole run; after a warm-up
the process's RSS must not grow by more than ``max_rss_growth_bytes`` and its
open file descriptors and threads must stay constant.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from lomuz_rules.model import Decision, MediaType, Tier
from player.adapters.vlc_output import HEADLESS_ARGS, VlcOutput
from player.core.model import ItemStart, Play
from player.runtime.playback import PlaybackLoop
from tests.fakes.clock import FakeClock
from tests.robustness.player.harness import noise_wav

MIB = 1024 * 1024


class RoundRobinSource:
    """A playlist of generated files, forever; counts completed plays."""

    def __init__(self, shas: list[str]) -> None:
        self._shas = shas
        self._next = 0
        self.completed = 0
        self.other = 0
        self.changed = threading.Condition()

    def decide(self, at: datetime) -> Decision:
        sha = self._shas[self._next % len(self._shas)]
        self._next += 1
        return Decision(
            at=at,
            tier=Tier.PLAYLIST,
            asset_id=f"a-{sha[:8]}",
            sha256=sha,
            media_type=MediaType.AUDIO,
            schedule_id="s",
            playlist_id="p",
            play_duration_ms=None,
            reasons=("endurance",),
        )

    def mark_started(self, start: ItemStart) -> None:
        pass  # rotation is this fake's fixed cycle

    def mark_alive(self, at: datetime) -> None:
        pass

    def record_play(self, play: Play) -> None:
        with self.changed:
            if play.outcome == "completed":
                self.completed += 1
            else:
                self.other += 1
            self.changed.notify_all()

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        raise AssertionError(f"a generated file was quarantined: {sha256}: {reason}")


@dataclass
class Sample:
    transitions: int
    rss_bytes: int
    fds: int
    threads: int


@dataclass
class EnduranceReport:
    transitions: int = 0
    failed_plays: int = 0
    wall_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def baseline(self) -> Sample:
        return self.samples[0]

    @property
    def rss_growth_bytes(self) -> int:
        return max(s.rss_bytes for s in self.samples) - self.baseline.rss_bytes

    def summary(self) -> str:
        b, last = self.baseline, self.samples[-1]
        return (
            f"transitions={self.transitions} failed={self.failed_plays} "
            f"wall_s={self.wall_s:.0f} rss_after_warmup_mib={b.rss_bytes / MIB:.1f} "
            f"rss_growth_mib={self.rss_growth_bytes / MIB:.2f} "
            f"fds={b.fds}->{last.fds} (max {max(s.fds for s in self.samples)}) "
            f"threads={b.threads}->{last.threads} "
            f"(max {max(s.threads for s in self.samples)}) problems={len(self.problems)}"
        )


def run_vlc_endurance(
    root: Path,
    transitions: int,
    *,
    warmup: int = 50,
    item_s: float = 0.2,
    max_rss_growth_bytes: int = 5 * MIB,
    sample_every: int = 25,
    say: Callable[[str], None] = lambda _text: None,
) -> EnduranceReport:
    root.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for i in range(4):
        body = noise_wav(item_s, 500 + i, sample_rate=22_050, channels=1)
        sha = hashlib.sha256(body).hexdigest()
        (root / sha).write_bytes(body)
        paths[sha] = root / sha
    source = RoundRobinSource(list(paths))
    output = VlcOutput(HEADLESS_ARGS)
    # 0.2 s items back to back: the one-item-a-second bound (tested in
    # tests/player/playback) would make this a test of waiting, not of libvlc.
    clock = FakeClock(datetime.now(UTC), real_time=True)  # real time, as on a box
    loop = PlaybackLoop(source, clock, output, paths.__getitem__, min_item_interval_s=0.0)
    me = psutil.Process()
    report = EnduranceReport()
    started = time.monotonic()
    # Generous: each item is item_s long, plus libvlc start-up per item.
    deadline = started + (warmup + transitions) * (item_s + 1.0) + 30
    loop.start()
    try:
        target = warmup
        while True:
            with source.changed:
                while source.completed + source.other < target:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"only {source.completed} plays before the deadline")
                    source.changed.wait(1.0)
            done = source.completed + source.other - warmup
            report.samples.append(
                Sample(done, me.memory_info().rss, me.num_fds(), me.num_threads())
            )
            if done and done % (sample_every * 10) == 0:
                say(f"{done} transitions: {report.summary()}")
            if done >= transitions:
                break
            target += sample_every
    finally:
        loop.stop()
        output.close()
    report.transitions = source.completed + source.other - warmup
    report.failed_plays = source.other
    report.wall_s = time.monotonic() - started
    if report.rss_growth_bytes > max_rss_growth_bytes:
        report.problems.append(f"RSS grew {report.rss_growth_bytes / MIB:.2f} MiB after warm-up")
    # A sample lands anywhere in an item (the playing and the prepared file are
    # open, libvlc's input threads come and go), so compare the ranges of the
    # first and second halves: a leak shows as a second half above the first.
    half = len(report.samples) // 2 or 1
    for name in ("fds", "threads"):
        first = max(getattr(s, name) for s in report.samples[:half])
        second = max(getattr(s, name) for s in report.samples[half:])
        if second > first:
            report.problems.append(
                f"{name} grew: max {first} in the first half, {second} in the second"
            )
    if report.failed_plays > transitions // 100:
        report.problems.append(f"{report.failed_plays} plays did not complete")
    return report
