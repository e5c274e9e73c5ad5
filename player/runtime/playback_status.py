"""The playback loop's ``NowPlaying`` snapshot, its log of state changes, the audio state.

``playing``/``silence`` turn what the loop does into the snapshot the daemon
reports (``now_playing``, systemd's ``STATUS=``, the metrics).

Written from the playback thread, read from any thread (``snapshot``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from lomuz_rules.model import Tier
from player.core.playback_timing import NO_AUDIO_RETRY_MAX_S
from player.core.status import NowPlaying
from player.runtime.playback_plays import Item

# The loop's logger: these lines are part of what the playback log says.
log = logging.getLogger("player.runtime.playback")


class PlaybackStatus:
    def __init__(self, overlap: Callable[[], bool]) -> None:
        self._overlap = overlap
        self._lock = threading.Lock()
        self._now_playing = NowPlaying(state="starting")
        self._audio_output = "unknown"
        self._audio_problem: str | None = None
        self._log_state = ""
        self.no_audio_failures = 0  # consecutive, for the no-audio back-off

    def snapshot(self) -> NowPlaying:
        with self._lock:
            return self._now_playing

    def set(self, snapshot: NowPlaying) -> None:
        with self._lock:
            self._now_playing = replace(
                snapshot,
                supports_overlap=self._overlap(),
                audio_output=self._audio_output,
                audio_problem=self._audio_problem,
            )

    def playing(self, item: Item) -> None:
        """``item`` has just started."""
        self.transition(str(item.decision.tier))
        self.set(
            NowPlaying(
                state="playing",
                tier=item.decision.tier,
                asset_id=item.asset_id,
                sha256=item.sha256,
                schedule_id=item.decision.schedule_id,
                playlist_id=item.decision.playlist_id,
                started_at=item.started_at,
                gain_db=round(item.gain.gain_db, 2),
                gain_reason=item.gain.reason,
            )
        )

    def silence(self) -> None:
        """The decision is silence: nothing plays until it changes."""
        self.transition("silence")
        self.set(NowPlaying(state="silence", tier=Tier.SILENCE))

    def transition(self, state: str) -> None:
        if state != self._log_state:
            # Without a sound device every retry flips the state: the outage was
            # logged once, and its end will be ("audio output is back").
            if self._audio_output != "none":
                log.info("playback: %s -> %s", self._log_state or "start", state)
            self._log_state = state

    def audio_checked(self, problem: str | None) -> None:
        """Track the output's state; log only when it changes."""
        state = "ok" if problem is None else "none"
        if problem is None:
            self.no_audio_failures = 0
            if self._audio_output == "none":
                log.info("audio output is back: items are heard again")
        else:
            self.no_audio_failures += 1
            if self._audio_output != "none":
                log.error(
                    "%s; plays are recorded as errors and playback retries every %.0f s at most",
                    problem,
                    NO_AUDIO_RETRY_MAX_S,
                )
            self.transition("no audio output")
        self._audio_output, self._audio_problem = state, problem
        with self._lock:
            self._now_playing = replace(
                self._now_playing,
                audio_output=state,
                audio_problem=problem,
                state="no_audio" if problem is not None else self._now_playing.state,
            )
