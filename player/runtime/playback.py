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
                              └─skip/stop──▶ record skipped (real ended_at)

Invariants:
- Other threads only put commands on the inbox (``request_skip``,
  ``request_reevaluate``, ``stop``); outputs put their events on the same
  inbox. The thread sleeps in ``inbox.get(timeout=...)`` until the next
  deadline (item end, hand-over, cap, boundary, heartbeat): it never polls,
  except every ``_RAMP_STEP_S`` while a crossfade ramps volumes.
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
- A failing store write (``mark_started``, ``record_play``, ``quarantine_file``)
  never stops or delays playback: it is logged once per change of error and
  the item plays on (the store keeps plays in memory while its disk is full).
- Only allowed media reach the output: ``_prepare`` reads each file's leading
  bytes (the built-in jingle's too) and refuses any that are not an allowed
  format for the asset's media type (``player.core.media_format``): such a
  file is failing media (error play, quarantine, the reason logged once).
- The loop never starts items faster than one per ``min_item_interval_s``,
  not even when every item fails at once (each attempt counts): a broken
  playlist cannot flood the outbox and the SD card with plays. An item
  shorter than that gets no hand-over; one that fails in a hand-over is an
  extra play in that item's span at most (under 1.5 plays a second).
- The item in progress is persisted when it starts (``mark_started``, with
  its play id and planned end, in the rotation's transaction) and, while it
  plays, ``mark_alive`` refreshes that record at most every
  ``alive_persist_s``: after a power cut the next start records it as
  ``skipped`` with the last instant it was known to play (see
  ``PlayerStore.recover_interrupted_plays``).
- A play is ``completed`` only when it could be heard: ``audio_check_s``
  after an item starts (or at 60 % of a shorter item) the output is asked
  whether sound reaches a device; when it does not, the item is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from lomuz_rules.model import Decision, MediaType, Tier
from player.core.media_format import file_reader, judge
from player.core.model import Outcome, Play
from player.core.status import NowPlaying
from player.errors import PlayerError
from player.ports import (
    Clock,
    MediaEnded,
    MediaFailed,
    MediaOutput,
    MediaStarted,
    PlaybackSource,
)

log = logging.getLogger(__name__)

DEFAULT_ITEM_DURATION_MS = 10_000
_RAMP_STEP_S = 0.05
_NO_AUDIO_RETRY_MAX_S = 60.0
JINGLE_ASSET_ID = "jingle"
# At most one item started (or attempted) per second, whatever the playlist says.
MIN_ITEM_INTERVAL_S = 1.0
# How often a long item's "still playing" instant is persisted (SD cards wear).
ALIVE_PERSIST_S = 60.0
_REFUSALS_REMEMBERED = 1000


class _Command:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_SKIP = _Command("skip")
_REEVALUATE = _Command("reevaluate")
_STOP = _Command("stop")


@dataclass
class _Item:
    """One prepared or playing item."""

    decision: Decision
    token: int
    asset_id: str
    sha256: str
    length_ms: int | None
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


@dataclass
class _Ramp:
    """A gain ramp (crossfade) or a timed stop (duration 0) for an item that is handing over."""

    token: int
    start_mono: float
    duration_s: float
    from_gain: float
    to_gain: float
    stop_at_end: bool


def default_jingle_path() -> Path:
    """The built-in jingle shipped in the package (player/data/jingle.wav)."""
    resource = importlib.resources.files("player") / "data" / "jingle.wav"
    return Path(str(resource))


class PlaybackLoop:
    """Plays what ``source.decide`` says, forever, on one thread.

    ``start()`` spawns the thread; ``stop()`` asks it to record the current play
    as skipped and waits for it. ``request_skip``/``request_reevaluate`` and
    ``now_playing`` are safe from any thread. ``heartbeat`` is called at least
    every ``heartbeat_interval_s`` from the playback thread (systemd watchdog).
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
    ) -> None:
        self._source = source
        self._clock = clock
        self._output = output
        self._media_path = media_path
        self._jingle_path = jingle_path
        self._jingle_sha256: str | None = None
        self._quarantine = timedelta(seconds=quarantine_s)
        self._crossfade_s = crossfade_ms / 1000
        self._prepare_lead_s = prepare_lead_ms / 1000
        self._start_lead_s = start_lead_ms / 1000
        self._end_grace_s = end_grace_ms / 1000
        self._silence_cap_s = silence_wait_cap_s
        self._heartbeat_s = heartbeat_interval_s
        self._heartbeat = heartbeat
        self._audio_check_s = audio_check_s
        self._audio_output = "unknown"
        self._audio_problem: str | None = None
        self._no_audio_failures = 0  # consecutive, for the no-audio back-off
        self._inbox: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._now_playing = NowPlaying(state="starting")
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ramps: list[_Ramp] = []
        self._tails: list[_Item] = []  # items still sounding after the next one started
        self._failures = 0  # consecutive, for the back-off
        self._log_state = ""
        self._last_error = ""
        self._store_error = ""  # the last store write failure logged ("" = writes work)
        self.iterations = 0  # decisions taken (tests prove the loop sleeps)
        self._min_interval_s = min_item_interval_s
        self._last_attempt_mono: float | None = None  # the last _prepare (throttle)
        self._alive_persist_s = alive_persist_s
        self._alive_due_mono: float | None = None  # next mark_alive, while an item plays
        self._in_progress: _Item | None = None  # the item mark_started told the store of
        self._refusals_logged: set[str] = set()

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

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop playback, record the current play as skipped, join the thread."""
        self._inbox.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def now_playing(self) -> NowPlaying:
        with self._lock:
            return self._now_playing

    # -- the playback thread -------------------------------------------------------------

    def run(self) -> None:
        """The thread body: runs until ``stop()``."""
        self._output.attach(self._inbox)
        current: _Item | None = None
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
            self._ramps.clear()
            with contextlib.suppress(Exception):  # shutting down: nothing else to save
                self._output.stop(None)
            with contextlib.suppress(Exception):  # a store failure must not hide the stop
                self._cut_tails()
            self._set_now_playing(NowPlaying(state="stopped"))

    def _fail_iteration(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self._last_error:
            log.exception("playback iteration failed")
            self._last_error = text
        with contextlib.suppress(Exception):
            self._output.stop(None)
        with contextlib.suppress(Exception):  # the store may be what failed
            self._cut_tails()
        self._failures += 1
        self._pause(self._backoff_s())

    def _backoff_s(self) -> float:
        return min(30.0, 0.25 * 2.0 ** max(0, self._failures - 1))

    def _beat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat()
        due = self._alive_due_mono
        if due is not None and self._clock.monotonic() >= due:
            self._alive_due_mono = self._clock.monotonic() + self._alive_persist_s
            try:
                self._source.mark_alive(self._clock.now())
            except PlayerError as exc:
                self._store_failed("cannot persist that the item still plays", exc)

    def _iterate(self, current: _Item | None) -> _Item | None:
        self._beat()
        if current is None:
            current = self._begin()
            if current is None:
                return None
        return self._play(current)

    def _decide(self, at: datetime) -> Decision:
        self.iterations += 1
        return self._source.decide(at)

    def _begin(self) -> _Item | None:
        """Decide and start something; None after silence or a failure."""
        if self._last_attempt_mono is not None:
            self._hold(self._last_attempt_mono + self._min_interval_s)
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
        self._transition("silence")
        self._set_now_playing(
            NowPlaying(state="silence", tier=Tier.SILENCE, supports_overlap=self._overlap)
        )
        wait_s = self._silence_cap_s
        if decision.next_boundary_at is not None:
            until_s = (decision.next_boundary_at - self._clock.now()).total_seconds()
            wait_s = min(wait_s, max(0.0, until_s))
        deadline = self._clock.monotonic() + wait_s
        while not self._stopping:
            message = self._wait_until(deadline)
            if message is None:
                if self._clock.monotonic() >= deadline:
                    return
            elif message is _SKIP or message is _REEVALUATE:
                return
            # stale output events are ignored

    @property
    def _overlap(self) -> bool:
        return self._output.supports_overlap

    def _identity(self, decision: Decision) -> tuple[str, str, Path]:
        if decision.tier == Tier.JINGLE or decision.sha256 is None:
            path = self._jingle_path or default_jingle_path()
            if self._jingle_sha256 is None:
                self._jingle_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            return JINGLE_ASSET_ID, self._jingle_sha256, path
        return decision.asset_id or "", decision.sha256, self._media_path(decision.sha256)

    def _prepare(self, decision: Decision, pause_on_failure: bool = True) -> _Item | None:
        self._last_attempt_mono = self._clock.monotonic()
        asset_id, sha256 = decision.asset_id or JINGLE_ASSET_ID, decision.sha256 or ""
        try:
            asset_id, sha256, path = self._identity(decision)
            with path.open("rb") as f:
                verdict = judge(file_reader(f), decision.media_type or MediaType.AUDIO)
            if verdict.problem is not None:
                item = _Item(decision, -1, asset_id, sha256, None)
                self._refused(item, verdict.problem, pause=pause_on_failure)
                return None
            token = self._output.prepare(path, verdict.format)
        except (PlayerError, OSError, LookupError) as exc:
            item = _Item(decision, -1, asset_id, sha256, None)
            self._failed(item, f"cannot open: {exc}", pause=pause_on_failure)
            return None
        return _Item(decision, token, asset_id, sha256, self._output.length_ms(token))

    def _refused(self, item: _Item, problem: str, *, pause: bool) -> None:
        """A file that is not allowed media: failing media, never handed to the output."""
        reason = f"refused before playing: {problem}"
        if item.sha256 not in self._refusals_logged:
            if len(self._refusals_logged) >= _REFUSALS_REMEMBERED:
                self._refusals_logged.clear()
            self._refusals_logged.add(item.sha256)
            log.warning("not playing %s %s: %s", item.decision.tier, item.asset_id, reason)
        self._failed(item, reason, pause=pause, logged=True)

    def _start(self, item: _Item) -> None:
        item.started_at = self._clock.now()
        item.started_mono = self._clock.monotonic()
        cap_ms = item.decision.play_duration_ms
        if item.length_ms is None and cap_ms is None:
            cap_ms = DEFAULT_ITEM_DURATION_MS
        if cap_ms is not None and (item.length_ms is None or cap_ms < item.length_ms):
            item.end_mono, item.capped = item.started_mono + cap_ms / 1000, True
        elif item.length_ms is not None:
            item.end_mono = item.started_mono + item.length_ms / 1000
        check_s = self._audio_check_s
        if item.end_mono is not None:
            check_s = min(check_s, 0.6 * (item.end_mono - item.started_mono))
        item.audio_check_mono = item.started_mono + check_s
        self._output.start(item.token)
        self._mark_started(item)
        self._in_progress = item
        self._alive_due_mono = item.started_mono + self._alive_persist_s
        self._transition(str(item.decision.tier))
        self._set_now_playing(
            NowPlaying(
                state="playing",
                tier=item.decision.tier,
                asset_id=item.asset_id,
                sha256=item.sha256,
                schedule_id=item.decision.schedule_id,
                playlist_id=item.decision.playlist_id,
                started_at=item.started_at,
                supports_overlap=self._overlap,
            )
        )

    def _audio_checked(self, problem: str | None) -> None:
        """Track the output's state; log only when it changes."""
        state = "ok" if problem is None else "none"
        if problem is None:
            self._no_audio_failures = 0
            if self._audio_output == "none":
                log.info("audio output is back: items are heard again")
        else:
            self._no_audio_failures += 1
            if self._audio_output != "none":
                log.error(
                    "%s; plays are recorded as errors and playback retries every %.0f s at most",
                    problem, _NO_AUDIO_RETRY_MAX_S,
                )
            self._transition("no audio output")
        self._audio_output, self._audio_problem = state, problem
        with self._lock:
            self._now_playing = replace(
                self._now_playing, audio_output=state, audio_problem=problem,
                state="no_audio" if problem is not None else self._now_playing.state,
            )

    def _no_audio_backoff_s(self) -> float:
        return min(_NO_AUDIO_RETRY_MAX_S, 2.0 * 2.0 ** max(0, self._no_audio_failures - 1))

    def _mark_started(self, item: _Item) -> None:
        assert item.started_at is not None and item.started_mono is not None
        assert item.end_mono is not None
        planned_end_at = item.started_at + timedelta(seconds=item.end_mono - item.started_mono)
        try:
            self._source.mark_started(
                item.decision,
                asset_id=item.asset_id,
                sha256=item.sha256,
                started_at=item.started_at,
                play_id=item.play_id,
                planned_end_at=planned_end_at,
            )
        except PlayerError as exc:
            # The item plays on; record_play at its end advances rotation anyway.
            self._store_failed(f"cannot mark {item.asset_id} as started", exc)
        else:
            self._store_worked()

    def _store_failed(self, what: str, exc: PlayerError) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self._store_error:
            log.warning("%s: %s; playback goes on", what, exc)
            self._store_error = text

    def _store_worked(self) -> None:
        if self._store_error:
            log.info("playback: store writes work again")
            self._store_error = ""

    def _play(self, cur: _Item) -> _Item | None:
        """Run ``cur`` until it is over; return the item that plays next (started) or None."""
        nxt: _Item | None = None
        while True:
            if self._stopping:  # a stop arrived while pausing inside this item
                self._output.stop(cur.token)
                self._record(cur, Outcome.SKIPPED)
                self._cut_tails()
                self._discard(nxt)
                return None
            now = self._clock.monotonic()
            wake = now + self._heartbeat_s
            if cur.audio_check_mono is not None:
                wake = min(wake, cur.audio_check_mono)
            if cur.end_mono is not None:
                if not cur.handed_over:
                    wake = min(wake, cur.end_mono - self._prepare_lead_s)
                elif nxt is not None and self._overlap:
                    wake = min(wake, self._overlap_start_at(cur, nxt))
                wake = min(wake, self._finish_at(cur))
            message = self._wait_until(wake)
            if message is None:
                now = self._clock.monotonic()
                if cur.audio_check_mono is not None and now >= cur.audio_check_mono:
                    cur.audio_check_mono = None
                    problem = self._output.audio_problem(cur.token)
                    self._audio_checked(problem)
                    if problem is not None:
                        self._output.stop(cur.token)
                        self._record(cur, Outcome.ERROR)
                        self._discard(nxt)
                        self._cut_tails()
                        self._pause(self._no_audio_backoff_s())
                        return None
                    continue
                if cur.end_mono is None:
                    continue
                if not cur.handed_over and now >= cur.end_mono - self._prepare_lead_s:
                    nxt = self._hand_over(cur)
                    continue
                if nxt is not None and self._overlap and now >= self._overlap_start_at(cur, nxt):
                    return self._start_overlapping(cur, nxt)
                if now >= self._finish_at(cur):
                    # cap reached, audible end reached, or the output never reported the end
                    self._output.stop(cur.token)
                    return self._finish(cur, Outcome.COMPLETED, nxt)
                continue
            if isinstance(message, MediaStarted):
                if message.token == cur.token and not any(
                    r.token == cur.token for r in self._ramps
                ):
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
            elif message is _SKIP or message is _STOP:
                self._output.stop(cur.token)
                self._record(cur, Outcome.SKIPPED)
                if message is _STOP:
                    self._cut_tails()
                if message is _SKIP and nxt is not None:
                    self._start(nxt)
                    return nxt
                self._discard(nxt)
                return None

    def _finish_at(self, cur: _Item) -> float:
        assert cur.end_mono is not None
        if cur.capped or cur.output_ended:
            return cur.end_mono
        return cur.end_mono + self._end_grace_s

    def _overlap_start_at(self, cur: _Item, nxt: _Item) -> float:
        assert cur.end_mono is not None
        return cur.end_mono - self._start_lead_s - self._fade_s(cur, nxt)

    def _fade_s(self, cur: _Item, nxt: _Item) -> float:
        music = (cur.decision.media_type, nxt.decision.media_type) == (
            MediaType.AUDIO,
            MediaType.AUDIO,
        )
        return self._crossfade_s if music and self._overlap else 0.0

    def _hand_over(self, cur: _Item) -> _Item | None:
        """Near the end of ``cur``: pick and prepare the next item (``cur`` is recorded later)."""
        assert cur.end_mono is not None
        cur.handed_over = True
        # libvlc's position moves in ~250 ms steps and lags: the projection from the
        # start time and the parsed length is the better estimate of the audible end.
        now = self._clock.monotonic()
        assert cur.started_mono is not None
        if cur.end_mono - cur.started_mono < self._min_interval_s:
            # The next item would start too soon after this one: no hand-over,
            # _begin holds until the interval has passed.
            return None
        ends_in_s = max(0.0, cur.end_mono - now)
        decision = self._decide(self._clock.now() + timedelta(seconds=ends_in_s))
        if decision.tier == Tier.SILENCE:
            return None
        return self._prepare(decision, pause_on_failure=False)

    def _start_overlapping(self, cur: _Item, nxt: _Item) -> _Item:
        assert cur.end_mono is not None
        fade_s = self._fade_s(cur, nxt)
        now = self._clock.monotonic()
        if fade_s > 0:
            self._output.set_gain(nxt.token, 0.0)
            self._ramps.append(_Ramp(nxt.token, now, fade_s, 0.0, 1.0, False))
            self._ramps.append(_Ramp(cur.token, now, fade_s, 1.0, 0.0, True))
        elif cur.capped:
            self._ramps.append(_Ramp(cur.token, cur.end_mono, 0.0, 1.0, 1.0, True))
        cur.tail_end_mono = now + fade_s if fade_s > 0 else cur.end_mono
        self._tails.append(cur)
        self._start(nxt)
        return nxt

    def _serve_tails(self, now: float) -> None:
        for tail in list(self._tails):
            if tail.tail_end_mono is not None and now >= tail.tail_end_mono:
                self._tails.remove(tail)
                self._record(tail, Outcome.COMPLETED)

    def _cut_tails(self) -> None:
        """A stop or failure silenced the tails before their end: they were cut short."""
        tails, self._tails = self._tails, []
        for tail in tails:
            self._record(tail, Outcome.SKIPPED)

    def _finish(self, cur: _Item, outcome: Outcome, nxt: _Item | None) -> _Item | None:
        self._record(cur, outcome)
        self._failures = 0
        if nxt is not None:
            self._start(nxt)
        return nxt

    def _discard(self, item: _Item | None) -> None:
        if item is not None:
            self._output.stop(item.token)

    def _record(self, item: _Item, outcome: Outcome) -> None:
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
            self._store_failed(f"cannot record the play of {item.asset_id}", exc)
        else:
            self._store_worked()

    def _failed(
        self, item: _Item, reason: str, pause: bool = True, *, logged: bool = False
    ) -> None:
        """Record an error play, quarantine the file, back off a little, move on."""
        self._failures += 1
        self._record(item, Outcome.ERROR)
        if item.decision.sha256 is not None and item.decision.tier != Tier.JINGLE:
            until = self._clock.now() + self._quarantine
            try:
                self._source.quarantine_file(item.decision.sha256, until, reason)
            except PlayerError as exc:  # the back-off below still keeps it from spinning
                self._store_failed(f"cannot quarantine {item.asset_id}", exc)
        if self._failures == 1 and not logged:
            log.warning("cannot play %s %s: %s", item.decision.tier, item.asset_id, reason)
        self._transition("failing")
        if pause:
            self._pause(self._backoff_s())

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
            if message is _SKIP or message is _REEVALUATE:
                return

    def _wait_until(self, deadline_mono: float) -> object | None:
        """Block until a message or ``deadline_mono``; serve ramps meanwhile. None on timeout."""
        while True:
            now = self._clock.monotonic()
            self._serve_ramps(now)
            self._serve_tails(now)
            timeout_s = max(0.0, min(deadline_mono, now + self._heartbeat_s) - now)
            if self._ramps:
                timeout_s = min(timeout_s, self._next_ramp_wake_s(now))
            tail_ends = [t.tail_end_mono for t in self._tails if t.tail_end_mono is not None]
            if tail_ends:
                timeout_s = max(0.0, min(timeout_s, min(tail_ends) - now))
            try:
                message = self._inbox.get(timeout=timeout_s)
            except queue.Empty:
                self._beat()
                if self._clock.monotonic() >= deadline_mono or not (self._ramps or self._tails):
                    return None
                continue
            if message is _STOP:
                self._stopping = True
            return message

    def _next_ramp_wake_s(self, now: float) -> float:
        waits = []
        for ramp in self._ramps:
            if now < ramp.start_mono:
                waits.append(ramp.start_mono - now)
            elif ramp.duration_s > 0:
                waits.append(_RAMP_STEP_S)
            else:
                waits.append(0.0)
        return max(0.0, min(waits))

    def _serve_ramps(self, now: float) -> None:
        for ramp in list(self._ramps):
            if now < ramp.start_mono:
                continue
            done = ramp.duration_s <= 0 or now >= ramp.start_mono + ramp.duration_s
            if ramp.duration_s > 0:
                share = 1.0 if done else (now - ramp.start_mono) / ramp.duration_s
                gain = ramp.from_gain + (ramp.to_gain - ramp.from_gain) * share
                self._output.set_gain(ramp.token, gain)
            if done:
                self._ramps.remove(ramp)
                if ramp.stop_at_end:
                    self._output.stop(ramp.token)

    def _transition(self, state: str) -> None:
        if state != self._log_state:
            # Without a sound device every retry flips the state: the outage was
            # logged once, and its end will be ("audio output is back").
            if self._audio_output != "none":
                log.info("playback: %s -> %s", self._log_state or "start", state)
            self._log_state = state

    def _set_now_playing(self, snapshot: NowPlaying) -> None:
        with self._lock:
            self._now_playing = replace(
                snapshot,
                supports_overlap=self._overlap,
                audio_output=self._audio_output,
                audio_problem=self._audio_problem,
            )
