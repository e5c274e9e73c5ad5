"""``VlcOutput``: the ``MediaOutput`` on libvlc (python-vlc).

Rules that keep a player alive for months:

- ONE ``vlc.Instance`` and a FIXED PAIR of ``MediaPlayer``s for the whole life
  of the object (creating a player per item leaks in libvlc). Items alternate
  between the two players; with ``supports_overlap`` False only the first one
  is used.
- libvlc event callbacks run on libvlc's threads and ONLY touch plain Python
  flags and put events on the queue: calling libvlc from its own callback
  deadlocks.
- libvlc ignores ``audio_set_volume`` before its audio output exists, so the
  loop re-applies the gain on ``MediaStarted`` (see ``MediaOutput.set_gain``).
  ``MediaPlayer.stop()`` destroys the player's audio output (measured: a
  volume set after it and before the next ``play`` is lost, the item starts
  at 100 %), so an audio item is halted with ``set_media(None)``, which keeps
  the output and its volume; an item with video is stopped, which also
  closes its window (one left open would cover the other player's video),
  and so is everything on ``stop(None)`` (silence, restart, shutdown).
- Volume: libvlc's percent is cubic in amplitude; the master volume, the
  crossfade gain and the item's loudness gain combine once, in
  ``player.core.output_volume.output_percent``.
- A file that will not open fails in ``prepare`` (PlaybackError); one that
  opens but does not play yields ``MediaFailed`` within ``start_timeout_s``
  (EncounteredError, no sign of life, or an end with nothing decoded).
- Pre-start (``prestart``, overlap only): ``prepare`` already opens the item
  on the idle player with ``:start-paused`` and waits for it to pause at 0,
  so ``start`` is a resume, whose latency is small and steady, instead of a
  full open whose latency varies (it made gapless hand-overs overlap or gap
  by tens of ms). While armed the slot has no token, so its events are
  dropped.
- libvlc reports "playing" with no sound device at all (it decodes into an
  output that never opened). ``audio_problem`` tells, from the media's
  statistics, when an audio-only item decodes but nothing reaches an output,
  so the loop records an error instead of a play nobody heard.
- libvlc only ever gets a local path (``media_new_path``), whose leading
  bytes must be an allowed media format (``lomuz_rules.media_format``), and
  the demuxer is pinned to that format's (``:demux=``): a playlist or
  manifest (HLS, DASH) cannot reach libvlc's playlist or adaptive-streaming
  demuxers, which fetch the URLs inside. ``NO_NETWORK_ARGS`` (``vlc_env``) shut the other
  doors libvlc opens by itself (lua playlist scripts, cover-art lookups,
  subtitle files next to the media); each was checked to exist in libvlc 3.
- ALSA's library prints an error line to stderr for every failed open (some
  2,000 lines in 10 s without a sound card): its error handler is replaced
  once per process by one that stays quiet (``vlc_env.quiet_alsa_errors``);
  the loop reports the state.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomuz_rules.media_format import MediaFormat
from player.adapters.vlc_env import (
    DEFAULT_ARGS,
    DEMUX_MODULES,
    HEADLESS_ARGS,
    NO_NETWORK_ARGS,
    aout_of,
    detect_overlap,
    media_format_of,
    quiet_alsa_errors,
)
from player.core.output_volume import output_percent
from player.errors import PlaybackError
from player.ports import Inbox, MediaEnded, MediaFailed, MediaStarted

# The arguments and helpers live in vlc_env; their old names stay importable here.
__all__ = [
    "DEFAULT_ARGS",
    "DEMUX_MODULES",
    "HEADLESS_ARGS",
    "NO_NETWORK_ARGS",
    "VlcOutput",
    "detect_overlap",
    "libvlc_version",
    "probe_audio_output",
    "quiet_alsa_errors",
]

_PARSE_TIMEOUT_MS = 2000
_PARSE_POLL_S = 0.005
# Decoded audio blocks an item may have before "nothing played" means no output.
_AUDIO_BLOCKS_BEFORE_VERDICT = 8


@dataclass
class _Prepared:
    media: Any  # vlc.Media
    length_ms: int | None
    gain: float = 1.0
    gain_db: float = 0.0
    armed_slot: int | None = None  # index of the slot holding it paused at 0 (pre-start)


class _Slot:
    """One of the two players and what it is playing. Flags are written by callbacks."""

    def __init__(self, player: Any) -> None:
        self.player = player
        self.token: int | None = None
        self.media: Any = None  # vlc.Media of the started item (statistics), released on halt
        self.length_ms: int | None = None
        self.alive = False  # Playing, progress or end seen since start
        self.progressed = False  # time advanced (something decoded)
        self.finished = False  # ended or failed was reported
        self.paused = threading.Event()  # set by the Paused callback (pre-start)
        self.armed: int | None = None  # token held paused at 0, not yet started
        self.gain = 1.0  # crossfade, amplitude
        self.gain_db = 0.0  # loudness
        self.watchdog: threading.Timer | None = None


class VlcOutput:
    """Plays files through libvlc. Methods: playback thread only; ``close()`` when done."""

    def __init__(
        self,
        instance_args: Sequence[str] = DEFAULT_ARGS,
        *,
        volume_percent: int = 100,
        overlap: bool | None = None,
        start_timeout_s: float = 1.0,
        env: Mapping[str, str] | None = None,
        prestart: bool = True,
        prestart_timeout_s: float = 1.0,
    ) -> None:
        try:
            import vlc
        except (ImportError, OSError) as exc:
            raise PlaybackError(f"libvlc cannot be loaded: {exc}") from exc
        self._vlc = vlc
        quiet_alsa_errors()
        self._instance = vlc.Instance(list(instance_args))
        if self._instance is None:
            raise PlaybackError(f"libvlc refused the instance arguments {list(instance_args)}")
        self._instance_args = list(instance_args)
        self._overlap = (
            detect_overlap(instance_args, os.environ if env is None else env)
            if overlap is None
            else overlap
        )
        self._slots = [_Slot(self._instance.media_player_new()) for _ in range(2)]
        self._lock = threading.Lock()
        self._events: Inbox | None = None
        self._prepared: dict[int, _Prepared] = {}
        self._next_token = 1
        self._active = 1  # index of the slot started last; the first start uses slot 0
        self._volume = max(0, min(100, volume_percent))
        self._start_timeout_s = start_timeout_s
        self._prestart = prestart and self._overlap
        self._prestart_timeout_s = prestart_timeout_s
        self._closed = False
        et = vlc.EventType
        self._attached: list[tuple[Any, Any]] = []
        for index, slot in enumerate(self._slots):
            manager = slot.player.event_manager()
            for kind, handler in (
                (et.MediaPlayerPlaying, self._on_playing),
                (et.MediaPlayerTimeChanged, self._on_time),
                (et.MediaPlayerEndReached, self._on_end),
                (et.MediaPlayerEncounteredError, self._on_error),
                (et.MediaPlayerPaused, self._on_paused),
            ):
                manager.event_attach(kind, handler, index)
                self._attached.append((manager, kind))

    # -- libvlc callbacks: flags and queue only, never a libvlc call -----------------

    def _put(self, event: object) -> None:
        if self._events is not None:
            self._events.put(event)

    def _on_playing(self, _event: object, index: int) -> None:
        slot = self._slots[index]
        token = slot.token
        if token is not None and not slot.alive:
            slot.alive = True
            self._put(MediaStarted(token))

    def _on_time(self, _event: object, index: int) -> None:
        slot = self._slots[index]
        slot.progressed = True
        self._on_playing(_event, index)

    def _on_end(self, _event: object, index: int) -> None:
        slot = self._slots[index]
        token = slot.token
        if token is None or slot.finished:
            return
        slot.finished = True
        slot.alive = True
        if slot.length_ms is None and not slot.progressed:
            self._put(MediaFailed(token, "ended without playing anything (unreadable media)"))
        else:
            self._put(MediaEnded(token))

    def _on_error(self, _event: object, index: int) -> None:
        slot = self._slots[index]
        token = slot.token
        if token is None or slot.finished:
            return
        slot.finished = True
        self._put(MediaFailed(token, "libvlc could not play the media"))

    def _on_paused(self, _event: object, index: int) -> None:
        self._slots[index].paused.set()

    def _on_watchdog(self, index: int, token: int) -> None:
        slot = self._slots[index]
        if slot.token == token and not slot.alive and not slot.finished:
            slot.finished = True
            self._put(MediaFailed(token, f"no progress within {self._start_timeout_s:g} s"))

    # -- MediaOutput --------------------------------------------------------------

    @property
    def supports_overlap(self) -> bool:
        return self._overlap

    def is_armed(self, token: int) -> bool:
        """Whether a prepared item waits paused at 0 on the idle player (pre-start)."""
        prepared = self._prepared.get(token)
        return prepared is not None and prepared.armed_slot is not None

    @property
    def player_ids(self) -> tuple[int, int]:
        """Identities of the two libvlc players (they never change: tests, diagnostics)."""
        return (id(self._slots[0].player), id(self._slots[1].player))

    def attach(self, events: Inbox) -> None:
        self._events = events

    def prepare(
        self, path: Path, media_format: MediaFormat | None = None, gain_db: float = 0.0
    ) -> int:
        fmt = media_format if media_format is not None else media_format_of(path)
        media = self._instance.media_new_path(str(path))
        if media is None:
            raise PlaybackError(f"libvlc cannot open {path.name}")
        media.add_option(f":demux={DEMUX_MODULES[fmt]}")
        media.add_option(":image-duration=-1")  # images show until the loop moves on
        # Poll rather than attach a MediaParsedChanged callback: python-vlc keeps
        # every per-media event manager (and its ctypes closure) alive, about
        # 1 KB per item, which an endurance run shows as steady RSS growth.
        media.parse_with_options(self._vlc.MediaParseFlag.local, _PARSE_TIMEOUT_MS)
        deadline = time.monotonic() + _PARSE_TIMEOUT_MS / 1000 + 0.5
        status = media.get_parsed_status()
        while not status and time.monotonic() < deadline:
            time.sleep(_PARSE_POLL_S)
            status = media.get_parsed_status()
        if status == self._vlc.MediaParsedStatus.failed:
            media.release()
            raise PlaybackError(f"libvlc cannot parse {path.name}")
        duration_ms = media.get_duration()
        token = self._next_token
        self._next_token += 1
        prepared = _Prepared(media, duration_ms if duration_ms > 0 else None, gain_db=gain_db)
        self._prepared[token] = prepared
        if self._prestart:
            self._arm(token, prepared)
        return token

    def _arm(self, token: int, prepared: _Prepared) -> None:
        """Open ``prepared`` paused at 0 on the idle slot; on any doubt, start cold later."""
        index = 1 - self._active
        slot = self._slots[index]
        if (slot.token is not None and not slot.finished) or slot.armed is not None:
            return  # the idle slot is still busy (a tail, or another armed item)
        self._halt(slot)
        prepared.media.add_option(":start-paused")
        slot.paused.clear()
        slot.player.set_media(prepared.media)
        slot.armed = token
        if slot.player.play() != 0 or not slot.paused.wait(self._prestart_timeout_s):
            slot.armed = None
            slot.player.stop()
            return
        prepared.armed_slot = index

    def start(self, token: int) -> None:
        prepared = self._prepared.pop(token)
        index = (1 - self._active) if self._overlap else 0
        if prepared.armed_slot is not None:
            index = prepared.armed_slot
        slot = self._slots[index]
        armed = prepared.armed_slot is not None and slot.armed == token
        if not armed:
            self._halt(slot)
            slot.player.set_media(prepared.media)
        slot.media = prepared.media  # released by _halt
        slot.armed = None
        slot.token = token
        slot.length_ms = prepared.length_ms
        slot.alive = slot.progressed = slot.finished = False
        slot.gain = prepared.gain
        slot.gain_db = prepared.gain_db
        self._active = index
        self._apply_volume(slot)
        if armed:
            slot.player.set_pause(0)
            started = True
        else:
            started = slot.player.play() == 0
        if not started:
            slot.finished = True
            self._put(MediaFailed(token, "libvlc refused to start the media"))
            return
        slot.watchdog = threading.Timer(self._start_timeout_s, self._on_watchdog, (index, token))
        slot.watchdog.daemon = True
        slot.watchdog.start()

    def _halt(self, slot: _Slot, *, release_output: bool = False) -> None:
        """Stop what ``slot`` plays; keep its audio output (and volume) unless asked."""
        if slot.watchdog is not None:
            slot.watchdog.cancel()
            slot.watchdog = None
        if slot.token is not None or slot.armed is not None:
            video = slot.player.video_get_track_count() > 0
            slot.token = slot.armed = None  # first, so late callbacks of the old item drop
            if release_output or video:
                slot.player.stop()
            else:
                slot.player.set_media(None)
        if slot.media is not None:
            slot.media.release()
            slot.media = None

    def stop(self, token: int | None = None) -> None:
        """One item (its player keeps its audio output), or everything (released)."""
        for slot in self._slots:
            if token is None or token in (slot.token, slot.armed):
                self._halt(slot, release_output=token is None)
        for t in [t for t in self._prepared if token is None or t == token]:
            self._prepared.pop(t).media.release()

    def _slot_of(self, token: int) -> _Slot | None:
        for slot in self._slots:
            if slot.token == token:
                return slot
        return None

    def _apply_volume(self, slot: _Slot) -> None:
        slot.player.audio_set_volume(output_percent(self._volume, slot.gain, slot.gain_db))

    def set_volume(self, percent: int) -> None:
        self._volume = max(0, min(100, percent))
        for slot in self._slots:
            self._apply_volume(slot)

    def set_gain(self, token: int, gain: float) -> None:
        gain = max(0.0, min(1.0, gain))
        prepared = self._prepared.get(token)
        if prepared is not None:
            prepared.gain = gain
        slot = self._slot_of(token)
        if slot is not None:
            slot.gain = gain
            self._apply_volume(slot)

    def length_ms(self, token: int) -> int | None:
        prepared = self._prepared.get(token)
        if prepared is not None:
            return prepared.length_ms
        slot = self._slot_of(token)
        return slot.length_ms if slot is not None else None

    def position_ms(self, token: int) -> int | None:
        slot = self._slot_of(token)
        if slot is None:
            return None
        ms = int(slot.player.get_time())
        return ms if ms >= 0 else None

    def audio_blocks(self, token: int) -> tuple[int, int] | None:
        """(decoded, played) audio blocks of the playing audio-only item, else None."""
        slot = self._slot_of(token)
        if slot is None or slot.media is None:
            return None
        if slot.player.video_get_track_count() > 0:
            return None
        stats = self._vlc.MediaStats()
        if not slot.media.get_stats(stats):
            return None
        return int(stats.decoded_audio), int(stats.played_abuffers)

    def audio_problem(self, token: int) -> str | None:
        """Why an audio-only item that is decoding reaches no output, else None.

        libvlc counts the audio blocks it decoded and those an output played;
        with no usable sound device the second stays 0. Items with video, and
        items that have not decoded enough yet, give None.
        """
        blocks = self.audio_blocks(token)
        if blocks is None:
            return None
        decoded, played = blocks
        if decoded < _AUDIO_BLOCKS_BEFORE_VERDICT or played > 0:
            return None
        return self._no_output_text(decoded)

    def _no_output_text(self, decoded: int) -> str:
        aout = aout_of(self._instance_args) or "default"
        return (
            f"no audio output: libvlc decoded {decoded} audio blocks and "
            f"no output ({aout}) played any; is a sound device present and allowed?"
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop(None)
        for manager, kind in self._attached:
            manager.event_detach(kind)
        for slot in self._slots:
            slot.player.release()
        self._instance.release()


def probe_audio_output(
    instance_args: Sequence[str], path: Path, *, timeout_s: float = 3.0
) -> str | None:
    """Play ``path`` silently on the configured output; why no sound reached it, or None.

    For ``lomuz-player doctor`` when no daemon holds the device: volume 0,
    one player, released before returning.
    """
    try:
        output = VlcOutput(instance_args, volume_percent=0, overlap=False, prestart=False)
    except PlaybackError as exc:
        return str(exc)
    try:
        events: queue.Queue[object] = queue.Queue()
        output.attach(events)
        token = output.prepare(path)
        output.start(token)
        deadline = time.monotonic() + timeout_s
        blocks: tuple[int, int] | None = None
        while time.monotonic() < deadline:
            time.sleep(0.1)
            blocks = output.audio_blocks(token)
            if blocks is not None and blocks[1] > 0:
                break  # a dead output gets the whole timeout: its first blocks may lag
        if blocks is None or blocks[0] == 0:
            return f"libvlc decoded nothing from {path.name} in {timeout_s:g} s"
        return None if blocks[1] > 0 else output._no_output_text(blocks[0])
    except PlaybackError as exc:
        return str(exc)
    finally:
        output.close()


def libvlc_version() -> str | None:
    """The installed libvlc's version, None when there is none (imports vlc)."""
    try:
        import vlc

        version = vlc.libvlc_get_version()
    except (ImportError, OSError, AttributeError):
        return None
    return version.decode() if isinstance(version, bytes) else str(version)
