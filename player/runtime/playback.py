"""The playback loop: one thread that owns playback state and drives a ``MediaOutput``.

State machine (the playback thread is the only one that touches it):

    idle ──decide──▶ silence ──(boundary | re-evaluate | 30 s)──▶ idle
      │
      └─prepare+start──▶ playing A ──(end - prepare_lead)──▶ hand-over:
           (mark_started A)   │        decide B, prepare B
                              │        overlap: start B at end - start_lead;
                              │          A becomes a tail, recorded at its end
                              │        single: start B on A's end (or A's cap)
                              ├─MediaEnded/cap──▶ record A completed, then B or idle
                              ├─MediaFailed──▶ record error, quarantine, B or idle
                              ├─no audio output (asked once, shortly after the
                              │   start)──▶ record error, no quarantine (the
                              │   device is at fault, not the file), back off
                              └─skip/stop/restart──▶ record skipped (real ended_at)

Invariants:
- Other threads only put commands on the inbox (``request_skip``,
  ``request_reevaluate``, ``request_restart``, ``call``, ``stop``); outputs
  put their events on the same inbox. The thread sleeps in
  ``inbox.get(timeout=...)`` until the next deadline (item end, hand-over,
  cap, boundary, heartbeat): it never polls,
  except every ``ramp_step_s`` while a crossfade ramps volumes. The deadlines
  and ramps are pure rules (``player.core.playback_timing``); this module
  reads the clock and waits. Tests pass an ``inbox`` whose timeouts run on
  their fake clock (``tests.fakes.clock.FakeClock.inbox``).
- Every started item gets exactly one Play, recorded at its real end with
  the real outcome; ``ended_at`` is the instant of recording, never later.
  Rotation must know A played before B is decided (during A's last
  ``prepare_lead_ms``), so ``source.mark_started`` advances rotation when A
  starts; the Play written at A's end advances it to the same instant again
  (a no-op). A crash in between leaves rotation advanced and no Play.
- With overlap, A keeps playing for ``start_lead_ms`` (or the crossfade)
  after B started: it is a "tail", recorded when its projected end passes
  (skipped if a stop cuts it).
- A schedule change takes effect at the next item: the decision is made at
  hand-over time for the projected start of the next item.
- An item's audible end is projected as its start plus its parsed length.
  libvlc may report ``MediaEnded`` earlier (it has decoded everything while
  its output buffer is still playing); the loop waits for the projection, as
  restarting that player earlier would flush the tail. The next item starts
  ``start_lead_ms`` before the projection on the other player (both items
  share the output's start-up latency, so a small lead suffices).
- Durations use ``clock.monotonic()``; instants in Plays use ``clock.now()``.
- Store writes and media checks live beside the loop: ``playback_plays``
  (a failing write never stops playback; the item in progress and
  ``mark_alive``), ``playback_media`` (only allowed media reach the output).
- The loop never starts items faster than one per ``min_item_interval_s``,
  not even when every item fails at once (each attempt counts): a broken
  playlist cannot flood the outbox and the SD card with plays. An item
  shorter than that gets no hand-over; one that fails in a hand-over is an
  extra play in that item's span at most (under 1.5 plays a second).
- A play is ``completed`` only when it could be heard: ``audio_check_s``
  after an item starts (or at 60 % of a shorter item) the output is asked
  whether sound reaches a device; when it does not, the item is an error.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from lomuz_rules.model import Decision, MediaType, Tier
from player.core import playback_timing as timing
from player.core.loudness import LoudnessSettings
from player.core.model import Outcome
from player.core.playback_timing import Due, TimingSettings
from player.core.status import NowPlaying
from player.ports import (
    Clock,
    MediaEnded,
    MediaFailed,
    MediaOutput,
    MediaStarted,
    PlaybackInbox,
    PlaybackSource,
)
from player.runtime.playback_inbox import REEVALUATE, RESTART, SKIP, STOP, WAKE, LoopCall
from player.runtime.playback_media import (
    JINGLE_ASSET_ID,
    MediaGate,
    Unplayable,
    default_jingle_path,
)
from player.runtime.playback_plays import Item, PlayWriter, Tails
from player.runtime.playback_status import PlaybackStatus

__all__ = ["JINGLE_ASSET_ID", "PlaybackLoop", "default_jingle_path"]

log = logging.getLogger(__name__)

DEFAULT_ITEM_DURATION_MS = 10_000
# At most one item started (or attempted) per second, whatever the playlist says.
MIN_ITEM_INTERVAL_S = 1.0
# How often a long item's "still playing" instant is persisted (SD cards wear).
ALIVE_PERSIST_S = 60.0


_SKIP, _REEVALUATE, _STOP, _RESTART = SKIP, REEVALUATE, STOP, RESTART


class PlaybackLoop:
    """Plays what ``source.decide`` says, forever, on one thread.

    ``start()`` spawns the thread; ``stop()`` asks it to record the current play
    as skipped and waits for it. ``request_skip``/``request_reevaluate`` and
    ``now_playing`` are safe from any thread. ``heartbeat`` is called at least
    every ``heartbeat_interval_s`` from the playback thread (systemd watchdog).
    ``inbox`` is the queue the thread waits on (a fresh ``queue.Queue`` unless
    given: tests give one whose timeouts run on their fake clock).
    """

    def __init__(
        self,
        source: PlaybackSource,
        clock: Clock,
        output: MediaOutput,
        media_path: Callable[[str], Path],
        *,
        jingle_path: Path | None = None,
        quarantine_s: float = 3600.0,
        crossfade_ms: int = 0,
        prepare_lead_ms: int = 500,
        start_lead_ms: int = 20,
        end_grace_ms: int = 2000,
        silence_wait_cap_s: float = 30.0,
        heartbeat_interval_s: float = 10.0,
        heartbeat: Callable[[], None] | None = None,
        audio_check_s: float = 1.5,
        min_item_interval_s: float = MIN_ITEM_INTERVAL_S,
        alive_persist_s: float = ALIVE_PERSIST_S,
        inbox: PlaybackInbox | None = None,
        loudness: LoudnessSettings | None = None,
    ) -> None:
        self._source = source
        self._clock = clock
        self._output = output
        self._media = MediaGate(output, media_path, jingle_path, loudness)
        self._timing = TimingSettings(
            prepare_lead_s=prepare_lead_ms / 1000,
            start_lead_s=start_lead_ms / 1000,
            end_grace_s=end_grace_ms / 1000,
            crossfade_s=crossfade_ms / 1000,
            heartbeat_s=heartbeat_interval_s,
            audio_check_s=audio_check_s,
            min_interval_s=min_item_interval_s,
            silence_cap_s=silence_wait_cap_s,
        )
        self._heartbeat = heartbeat
        self._plays = PlayWriter(
            source, clock, quarantine_s=quarantine_s, alive_persist_s=alive_persist_s
        )
        self._inbox: PlaybackInbox = queue.Queue() if inbox is None else inbox
        self._status = PlaybackStatus(lambda: self._output.supports_overlap)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._tails = Tails(output, self._plays)  # items sounding after the next one started
        self._failures = 0  # consecutive, for the back-off
        self._last_error = ""
        self.iterations = 0  # decisions taken (tests prove the loop sleeps)
        self._last_attempt_mono: float | None = None  # the last _prepare (throttle)

    # -- other threads ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("PlaybackLoop already started")
        self._thread = threading.Thread(target=self.run, name="playback", daemon=True)
        self._thread.start()

    def request_skip(self) -> None:
        self._inbox.put(_SKIP)

    def request_reevaluate(self) -> None:
        """Decide again now if idle or silent (after a sync); a playing item plays on."""
        self._inbox.put(_REEVALUATE)

    def request_restart(self) -> None:
        """Stop every item (the current one recorded as skipped) and decide afresh."""
        self._inbox.put(_RESTART)

    def call(self, fn: Callable[[], None]) -> LoopCall:
        """Run ``fn`` on the playback thread (after what is queued before it)."""
        call = LoopCall(fn)
        self._inbox.put(call)
        return call

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop playback, record the current play as skipped, join the thread."""
        self._inbox.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def now_playing(self) -> NowPlaying:
        return self._status.snapshot()

    # -- the playback thread -------------------------------------------------------------

    def run(self) -> None:
        """The thread body: runs until ``stop()``."""
        self._output.attach(self._inbox)
        current: Item | None = None
        try:
            while not self._stopping:
                try:
                    current = self._iterate(current)
                except Exception as exc:  # loop boundary: one bad iteration must not end playback
                    current = None
                    self._fail_iteration(exc)
                else:
                    if self._last_error:
                        log.info("playback recovered")
                        self._last_error = ""
        finally:
            self._tails.clear_ramps()
            with contextlib.suppress(Exception):  # shutting down: nothing else to save
                self._output.stop(None)
            with contextlib.suppress(Exception):  # a store failure must not hide the stop
                self._tails.cut()
            self._status.set(NowPlaying(state="stopped"))

    def _fail_iteration(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self._last_error:
            log.exception("playback iteration failed")
            self._last_error = text
        with contextlib.suppress(Exception):
            self._output.stop(None)
        with contextlib.suppress(Exception):  # the store may be what failed
            self._tails.cut()
        self._failures += 1
        self._pause(timing.failure_backoff_s(self._failures))

    def _beat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat()
        self._plays.beat()

    def _iterate(self, current: Item | None) -> Item | None:
        self._beat()
        if current is None:
            current = self._begin()
            if current is None:
                return None
        return self._play(current)

    def _decide(self, at: datetime) -> Decision:
        self.iterations += 1
        return self._source.decide(at)

    def _begin(self) -> Item | None:
        """Decide and start something; None after silence or a failure."""
        if self._last_attempt_mono is not None:
            self._hold(
                timing.next_attempt_at(
                    self._last_attempt_mono, self._clock.monotonic(), self._timing.min_interval_s
                )
            )
            if self._stopping:
                return None
        decision = self._decide(self._clock.now())
        if decision.tier == Tier.SILENCE:
            self._silence(decision)
            return None
        item = self._prepare(decision)
        if item is None:
            return None
        self._start(item)
        return item

    def _silence(self, decision: Decision) -> None:
        self._status.silence()
        wait_s = timing.silence_wait_s(self._clock.now(), decision.next_boundary_at, self._timing)
        deadline = self._clock.monotonic() + wait_s
        while not self._stopping:
            message = self._wait_until(deadline)
            if message is None:
                if self._clock.monotonic() >= deadline:
                    return
            elif message in WAKE:
                return
            # stale output events are ignored

    @property
    def _overlap(self) -> bool:
        return self._output.supports_overlap

    def _prepare(self, decision: Decision, pause_on_failure: bool = True) -> Item | None:
        self._last_attempt_mono = self._clock.monotonic()
        prepared = self._media.prepare(decision)
        if isinstance(prepared, Unplayable):
            self._failed(
                prepared.item, prepared.reason, pause=pause_on_failure, logged=prepared.logged
            )
            return None
        return prepared

    def _start(self, item: Item) -> None:
        item.started_at = self._clock.now()
        item.started_mono = self._clock.monotonic()
        item.end_mono, item.capped = timing.projected_end(
            item.started_mono,
            item.length_ms,
            item.decision.play_duration_ms,
            DEFAULT_ITEM_DURATION_MS,
        )
        item.audio_check_mono = timing.audio_check_at(
            item.started_mono, item.end_mono, self._timing.audio_check_s
        )
        self._output.start(item.token)
        self._plays.mark_started(item)
        self._status.playing(item)

    def _play(self, cur: Item) -> Item | None:
        """Run ``cur`` until it is over; return the item that plays next (started) or None."""
        nxt: Item | None = None
        while True:
            if self._stopping:  # a stop arrived while pausing inside this item
                self._output.stop(cur.token)
                self._plays.record(cur, Outcome.SKIPPED)
                self._tails.cut()
                self._discard(nxt)
                return None
            message = self._wait_until(self._deadline(cur, nxt, self._clock.monotonic()).at_mono)
            if message is None:
                now = self._clock.monotonic()
                due = self._deadline(cur, nxt, now)
                if due.at_mono > now or due.due == Due.HEARTBEAT:
                    continue
                if due.due == Due.AUDIO_CHECK:
                    cur.audio_check_mono = None
                    if self._check_audio(cur, nxt):
                        continue
                    return None
                if due.due == Due.HAND_OVER:
                    nxt = self._hand_over(cur)
                    continue
                if due.due == Due.START_NEXT:
                    assert nxt is not None
                    return self._start_overlapping(cur, nxt)
                # cap reached, audible end reached, or the output never reported the end
                self._output.stop(cur.token)
                return self._finish(cur, Outcome.COMPLETED, nxt)
            if isinstance(message, MediaStarted):
                if message.token == cur.token and not self._tails.ramping(cur.token):
                    self._output.set_gain(cur.token, 1.0)  # libvlc ignored it before playing
            elif isinstance(message, MediaEnded):
                if message.token == cur.token:
                    if cur.end_mono is not None and self._clock.monotonic() < cur.end_mono:
                        # libvlc reports the end once everything is decoded, while up to
                        # its buffer is still to be heard; starting the next item on the
                        # same player now would flush that tail.
                        cur.output_ended = True
                        continue
                    return self._finish(cur, Outcome.COMPLETED, nxt)
            elif isinstance(message, MediaFailed):
                if message.token == cur.token:
                    self._output.stop(cur.token)
                    self._failed(cur, message.reason, pause=nxt is None)
                    if nxt is not None:  # failed in its last instants: B is ready
                        self._start(nxt)
                    return nxt
            elif message is _SKIP or message is _STOP or message is _RESTART:
                self._output.stop(cur.token)
                self._plays.record(cur, Outcome.SKIPPED)
                if message is not _SKIP:
                    self._tails.cut()
                if message is _SKIP and nxt is not None:
                    self._start(nxt)
                    return nxt
                self._discard(nxt)
                if message is _RESTART:
                    self._output.stop(None)
                return None

    def _deadline(self, cur: Item, nxt: Item | None, now: float) -> timing.Deadline:
        fade = 0.0 if nxt is None else self._fade_s(cur, nxt)
        ready = nxt is not None and self._overlap
        return timing.next_deadline(now, cur.timing(), self._timing, next_ready=ready, fade=fade)

    def _check_audio(self, cur: Item, nxt: Item | None) -> bool:
        """Ask whether ``cur`` is heard; when not, record it as an error and back off."""
        problem = self._output.audio_problem(cur.token)
        self._status.audio_checked(problem)
        if problem is None:
            return True
        self._output.stop(cur.token)
        self._plays.record(cur, Outcome.ERROR)
        self._discard(nxt)
        self._tails.cut()
        self._pause(timing.no_audio_backoff_s(self._status.no_audio_failures))
        return False

    def _fade_s(self, cur: Item, nxt: Item) -> float:
        music = (cur.decision.media_type, nxt.decision.media_type) == (MediaType.AUDIO,) * 2
        return timing.fade_s(music, self._overlap, self._timing)

    def _hand_over(self, cur: Item) -> Item | None:
        """Near the end of ``cur``: pick and prepare the next item (``cur`` is recorded later)."""
        assert cur.end_mono is not None
        cur.handed_over = True
        # libvlc's position moves in ~250 ms steps and lags: the projection from the
        # start time and the parsed length is the better estimate of the audible end.
        now = self._clock.monotonic()
        if not timing.may_hand_over(cur.timing(), self._timing):
            # The next item would start too soon after this one: no hand-over,
            # _begin holds until the interval has passed.
            return None
        ends_in_s = max(0.0, cur.end_mono - now)
        decision = self._decide(self._clock.now() + timedelta(seconds=ends_in_s))
        if decision.tier == Tier.SILENCE:
            return None
        return self._prepare(decision, pause_on_failure=False)

    def _start_overlapping(self, cur: Item, nxt: Item) -> Item:
        assert cur.end_mono is not None
        fade = self._fade_s(cur, nxt)
        ramps, cur.tail_end_mono = timing.crossfade(
            cur.token,
            nxt.token,
            self._clock.monotonic(),
            fade,
            cur_capped=cur.capped,
            cur_end_mono=cur.end_mono,
        )
        if fade > 0:
            self._output.set_gain(nxt.token, 0.0)
        self._tails.add(cur, ramps)
        self._start(nxt)
        return nxt

    def _finish(self, cur: Item, outcome: Outcome, nxt: Item | None) -> Item | None:
        self._plays.record(cur, outcome)
        self._failures = 0
        if nxt is not None:
            self._start(nxt)
        return nxt

    def _discard(self, item: Item | None) -> None:
        if item is not None:
            self._output.stop(item.token)

    def _failed(self, item: Item, reason: str, pause: bool = True, *, logged: bool = False) -> None:
        """Record an error play, quarantine the file, back off a little, move on."""
        self._failures += 1
        self._plays.record(item, Outcome.ERROR)
        self._plays.quarantine(item, reason)
        if self._failures == 1 and not logged:
            log.warning("cannot play %s %s: %s", item.decision.tier, item.asset_id, reason)
        self._status.transition("failing")
        if pause:
            self._pause(timing.failure_backoff_s(self._failures))

    def _hold(self, deadline_mono: float) -> None:
        """Wait until ``deadline_mono`` whatever arrives, except a stop (the throttle).

        A skip or re-evaluation meanwhile is moot: nothing plays yet, and the
        decision is taken when the wait ends.
        """
        while not self._stopping and self._clock.monotonic() < deadline_mono:
            self._wait_until(deadline_mono)

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless a command arrives (stop and skip end it)."""
        deadline = self._clock.monotonic() + seconds
        while not self._stopping:
            message = self._wait_until(deadline)
            if message is None and self._clock.monotonic() >= deadline:
                return
            if message in WAKE:
                return

    def _wait_until(self, deadline_mono: float) -> object | None:
        """Block until a message or ``deadline_mono``; serve ramps meanwhile. None on timeout."""
        while True:
            now = self._clock.monotonic()
            self._tails.serve(now)
            timeout_s = self._tails.wait_timeout_s(now, deadline_mono, self._timing)
            try:
                message = self._inbox.get(timeout=timeout_s)
            except queue.Empty:
                self._beat()
                if self._clock.monotonic() >= deadline_mono or not self._tails.busy:
                    return None
                continue
            if isinstance(message, LoopCall):
                message.run()
                continue
            if message is _STOP:
                self._stopping = True
            return message
