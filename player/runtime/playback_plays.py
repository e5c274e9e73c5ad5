"""The playback loop's items and its writes to the store (Plays, rotation, quarantine).

Used by ``player.runtime.playback`` on its one thread.

- A failing store write (``mark_started``, ``record_play``, ``quarantine_file``)
  never stops or delays playback: it is logged once per change of error and
  the item plays on (the store keeps plays in memory while its disk is full).
- The item in progress is persisted when it starts (``mark_started``, with
  its play id and planned end, in the rotation's transaction) and, while it
  plays, ``mark_alive`` refreshes that record at most every
  ``alive_persist_s``: after a power cut the next start records it as
  ``skipped`` with the last instant it was known to play
  (``recover_interrupted_plays``, at the daemon's start).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lomuz_rules.model import Decision, Tier
from player.core.loudness import UNITY_GAIN, Gain
from player.core.model import ItemStart, Outcome, Play
from player.core.playback_timing import (
    ItemTiming,
    Ramp,
    TimingSettings,
    alive_due,
    wait_timeout_s,
)
from player.errors import PlayerError
from player.ports import Clock, MediaOutput, PlaybackSource
from player.wire import format_instant

if TYPE_CHECKING:
    from player.store.rotation import Rotation

# The loop's logger: these lines are part of what the playback log says.
log = logging.getLogger("player.runtime.playback")


@dataclass
class Item:
    """One prepared or playing item."""

    decision: Decision
    token: int
    asset_id: str
    sha256: str
    length_ms: int | None
    gain: Gain = UNITY_GAIN  # loudness (player.core.loudness), fixed when prepared
    play_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: datetime | None = None
    started_mono: float | None = None
    end_mono: float | None = None  # projected end: natural length or cap, whichever first
    capped: bool = False  # end_mono is a cap: the loop must stop the item there
    handed_over: bool = False  # the next item was decided (last prepare_lead of this one)
    recorded: bool = False
    tail_end_mono: float | None = None  # overlap: when this tail is over (recorded then)
    output_ended: bool = False  # MediaEnded seen (may precede the audible end)
    audio_check_mono: float | None = None  # when to ask whether it can be heard

    def timing(self) -> ItemTiming:
        """The facts the timing rules need (the item has started)."""
        assert self.started_mono is not None
        return ItemTiming(
            started_mono=self.started_mono,
            end_mono=self.end_mono,
            capped=self.capped,
            handed_over=self.handed_over,
            output_ended=self.output_ended,
            audio_check_mono=self.audio_check_mono,
        )


class PlayWriter:
    """Writes what the loop did to the store; remembers the item in progress."""

    def __init__(
        self, source: PlaybackSource, clock: Clock, *, quarantine_s: float, alive_persist_s: float
    ) -> None:
        self._source = source
        self._clock = clock
        self._quarantine = timedelta(seconds=quarantine_s)
        self._alive_persist_s = alive_persist_s
        self._alive_due_mono: float | None = None  # next mark_alive, while an item plays
        self._in_progress: Item | None = None  # the item mark_started told the store of
        self._store_error = ""  # the last store write failure logged ("" = writes work)

    def mark_started(self, item: Item) -> None:
        assert item.started_at is not None and item.started_mono is not None
        assert item.end_mono is not None
        planned_end_at = item.started_at + timedelta(seconds=item.end_mono - item.started_mono)
        try:
            self._source.mark_started(
                ItemStart(
                    item.decision,
                    asset_id=item.asset_id,
                    sha256=item.sha256,
                    started_at=item.started_at,
                    play_id=item.play_id,
                    planned_end_at=planned_end_at,
                )
            )
        except PlayerError as exc:
            # The item plays on; record_play at its end advances rotation anyway.
            self._failed(f"cannot mark {item.asset_id} as started", exc)
        else:
            self._worked()
        self._in_progress = item
        self._alive_due_mono = item.started_mono + self._alive_persist_s

    def beat(self) -> None:
        """Persist that the item in progress still plays, at most every ``alive_persist_s``."""
        due = alive_due(self._clock.monotonic(), self._alive_due_mono, self._alive_persist_s)
        if due is None:
            return
        self._alive_due_mono = due
        try:
            self._source.mark_alive(self._clock.now())
        except PlayerError as exc:
            self._failed("cannot persist that the item still plays", exc)

    def record(self, item: Item, outcome: Outcome) -> None:
        """The item's one Play, at its real end (never a projection).

        ``ended_at`` is ``started_at`` plus the monotonic time it played.
        """
        if item.recorded:
            return
        item.recorded = True
        if self._in_progress is item:
            self._in_progress = None
            self._alive_due_mono = None
        now = self._clock.now()
        started_at = item.started_at or now
        ended_at = now
        if item.started_at is not None and item.started_mono is not None:
            # The length comes from monotonic time: the corrected clock may step
            # mid-item (the first API Date offset has 1 s resolution).
            elapsed_s = max(0.0, self._clock.monotonic() - item.started_mono)
            ended_at = item.started_at + timedelta(seconds=elapsed_s)
        play = Play(
            id=item.play_id,
            asset_id=item.asset_id,
            sha256=item.sha256,
            started_at=started_at,
            ended_at=ended_at,
            source=item.decision.tier,
            outcome=outcome,
            schedule_id=item.decision.schedule_id,
            playlist_id=item.decision.playlist_id,
            playlist_position=item.decision.playlist_position,
        )
        try:
            self._source.record_play(play)
        except PlayerError as exc:  # the next item must still start
            self._failed(f"cannot record the play of {item.asset_id}", exc)
        else:
            self._worked()

    def quarantine(self, item: Item, reason: str) -> None:
        """Keep a failing file out of the decisions for a while (never the jingle)."""
        if item.decision.sha256 is None or item.decision.tier == Tier.JINGLE:
            return
        until = self._clock.now() + self._quarantine
        try:
            self._source.quarantine_file(item.decision.sha256, until, reason)
        except PlayerError as exc:  # the loop's back-off still keeps it from spinning
            self._failed(f"cannot quarantine {item.asset_id}", exc)

    def _failed(self, what: str, exc: PlayerError) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self._store_error:
            log.warning("%s: %s; playback goes on", what, exc)
            self._store_error = text

    def _worked(self) -> None:
        if self._store_error:
            log.info("playback: store writes work again")
            self._store_error = ""


class Tails:
    """Items still sounding after the next one started, and the ramps that fade or stop them."""

    def __init__(self, output: MediaOutput, plays: PlayWriter) -> None:
        self._output = output
        self._plays = plays
        self._ramps: list[Ramp] = []
        self._items: list[Item] = []

    def add(self, tail: Item, ramps: list[Ramp]) -> None:
        self._ramps.extend(ramps)
        self._items.append(tail)

    def ramping(self, token: int) -> bool:
        return any(r.token == token for r in self._ramps)

    @property
    def busy(self) -> bool:
        return bool(self._ramps or self._items)

    def clear_ramps(self) -> None:
        self._ramps.clear()

    def serve(self, now: float) -> None:
        """Step the ramps due at ``now``; record the tails whose end passed."""
        for ramp in list(self._ramps):
            if now < ramp.start_mono:
                continue
            gain = ramp.gain_at(now)
            if gain is not None:
                self._output.set_gain(ramp.token, gain)
            if ramp.done(now):
                self._ramps.remove(ramp)
                if ramp.stop_at_end:
                    self._output.stop(ramp.token)
        for tail in list(self._items):
            if tail.tail_end_mono is not None and now >= tail.tail_end_mono:
                self._items.remove(tail)
                self._plays.record(tail, Outcome.COMPLETED)

    def cut(self) -> None:
        """A stop or failure silenced the tails before their end: they were cut short."""
        tails, self._items = self._items, []
        for tail in tails:
            self._plays.record(tail, Outcome.SKIPPED)

    def wait_timeout_s(self, now: float, deadline_mono: float, settings: TimingSettings) -> float:
        ends = [t.tail_end_mono for t in self._items if t.tail_end_mono is not None]
        return wait_timeout_s(now, deadline_mono, settings, self._ramps, ends)


def recover_interrupted_plays(rotation: Rotation, known_alive_at: datetime | None) -> None:
    """The items a power cut (or a crash) interrupted become skipped plays, uploaded later.

    Called at start, before the loop: ``known_alive_at`` is the last instant
    the player is known to have run (the stored clock floor).
    """
    try:
        plays = rotation.recover_interrupted_plays(known_alive_at)
    except PlayerError as exc:  # playback first; the record stays for the next start
        log.warning("cannot record the plays the last stop interrupted yet: %s", exc)
        return
    for play in plays:
        log.info(
            "the last stop cut %s (started %s) short: recorded as skipped",
            play.asset_id,
            format_instant(play.started_at),
        )
