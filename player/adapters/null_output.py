"""``NullOutput``: plays nothing, in real time (tests, boxes without audio, ``backend = "null"``).

An item "plays" from ``start`` until its length has elapsed on the given
monotonic clock, then ``MediaEnded`` is queued. The length is read from WAV
headers (stdlib ``wave``); other files have no known length and end after
``fallback_duration_ms`` (or never by themselves when that is None: the loop
caps them). Any number of items may overlap.
"""

from __future__ import annotations

import contextlib
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lomuz_rules.media_format import MediaFormat
from player.adapters.output import ensure_readable
from player.ports import Inbox, MediaEnded, MediaStarted


@dataclass
class _Item:
    path: Path
    length_ms: int | None
    started_at_s: float | None = None
    timer: threading.Timer | None = None
    gain: float = 1.0
    gain_db: float = 0.0


def _wav_length_ms(path: Path) -> int | None:
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return round(w.getnframes() * 1000 / rate) if rate > 0 else None
    except (wave.Error, EOFError):
        return None


class NullOutput:
    """A ``MediaOutput`` that keeps time but makes no sound. Thread-safe."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        fallback_duration_ms: int | None = None,
    ) -> None:
        self._monotonic = monotonic
        self._fallback_duration_ms = fallback_duration_ms
        self._events: Inbox | None = None
        self._items: dict[int, _Item] = {}
        self._next_token = 1
        self._lock = threading.Lock()
        self.volume_percent = 100

    @property
    def supports_overlap(self) -> bool:
        return True

    def attach(self, events: Inbox) -> None:
        self._events = events

    def prepare(
        self, path: Path, media_format: MediaFormat | None = None, gain_db: float = 0.0
    ) -> int:
        ensure_readable(path)
        length_ms = _wav_length_ms(path)
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._items[token] = _Item(path, length_ms, gain_db=gain_db)
        return token

    def start(self, token: int) -> None:
        with self._lock:
            item = self._items[token]
            item.started_at_s = self._monotonic()
            run_ms = item.length_ms if item.length_ms is not None else self._fallback_duration_ms
            if run_ms is not None:
                item.timer = threading.Timer(run_ms / 1000, self._ended, args=(token,))
                item.timer.daemon = True
                item.timer.start()
        self._put(MediaStarted(token))

    def _ended(self, token: int) -> None:
        with self._lock:
            if self._items.pop(token, None) is None:
                return
        self._put(MediaEnded(token))

    def _put(self, event: object) -> None:
        if self._events is not None:
            self._events.put(event)

    def stop(self, token: int | None = None) -> None:
        with self._lock:
            tokens = list(self._items) if token is None else [token]
            for t in tokens:
                item = self._items.pop(t, None)
                if item is not None and item.timer is not None:
                    item.timer.cancel()

    def set_volume(self, percent: int) -> None:
        self.volume_percent = max(0, min(100, percent))

    def set_gain(self, token: int, gain: float) -> None:
        with self._lock, contextlib.suppress(KeyError):
            self._items[token].gain = gain

    def length_ms(self, token: int) -> int | None:
        with self._lock:
            item = self._items.get(token)
            return item.length_ms if item is not None else None

    def position_ms(self, token: int) -> int | None:
        with self._lock:
            item = self._items.get(token)
            if item is None or item.started_at_s is None:
                return None
            return round((self._monotonic() - item.started_at_s) * 1000)

    def audio_problem(self, token: int) -> str | None:
        return None  # no device is expected: "null" plays nothing by design

    def close(self) -> None:
        self.stop(None)
