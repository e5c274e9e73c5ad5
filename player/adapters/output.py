"""The role interface the playback loop drives (``MediaOutput``) and its events.

Threading: every method is called from the playback thread only. An output
reports asynchronously by putting events on the queue given to ``attach``;
it never calls back into the loop. Events carry the ``token`` returned by
``prepare`` so the loop can ignore late events of an item it has moved past.

Lifecycle of an item: ``prepare(path)`` loads it on the idle slot (parsing it
so its length is known) and returns a token; ``start(token)`` makes it play;
it then ends by itself (``MediaEnded``), fails (``MediaFailed``) or is stopped
by ``stop(token)``. With ``supports_overlap`` the next item may be started
while the current one is still playing (gapless hand-over, crossfade);
without it, starting an item stops whatever was playing.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from lomuz_rules.media_format import MediaFormat, ReadAt
from player.errors import PlaybackError


@dataclass(frozen=True)
class MediaStarted:
    """The item is really playing (first sign of progress)."""

    token: int


@dataclass(frozen=True)
class MediaEnded:
    """The item reached its natural end."""

    token: int


@dataclass(frozen=True)
class MediaFailed:
    """The item would not open or play; ``reason`` is human text for logs and quarantine."""

    token: int
    reason: str


OutputEvent = MediaStarted | MediaEnded | MediaFailed


class MediaOutput(Protocol):
    """Something that plays media files: libvlc (``VlcOutput``) or nothing (``NullOutput``)."""

    @property
    def supports_overlap(self) -> bool:
        """True when two items can sound at once (the output mixes)."""
        ...

    def attach(self, events: queue.Queue[object]) -> None:
        """Where to put ``OutputEvent``s from now on (the loop's inbox)."""
        ...

    def prepare(self, path: Path, media_format: MediaFormat | None = None) -> int:
        """Load ``path`` on the idle slot and return its token.

        ``media_format`` is what the caller identified the file as (the playback
        loop judges every file first), so the output reads nothing more; None:
        the output identifies it and refuses anything not allowed. Raises
        ``PlaybackError`` when the file cannot even be opened.
        """
        ...

    def start(self, token: int) -> None:
        """Start a prepared item; ``MediaStarted``/``MediaFailed`` follow on the queue."""
        ...

    def stop(self, token: int | None = None) -> None:
        """Stop one item, or everything when ``token`` is None. Idempotent."""
        ...

    def set_volume(self, percent: int) -> None:
        """Master volume 0..100, applied to every slot."""
        ...

    def set_gain(self, token: int, gain: float) -> None:
        """Per-item gain 0.0..1.0 on top of the master volume (crossfades).

        Re-applies the volume; call again on ``MediaStarted`` because some
        outputs ignore volume before the item is actually playing.
        """
        ...

    def length_ms(self, token: int) -> int | None:
        """Natural length, or None when unknown (images, streams, unreadable)."""
        ...

    def position_ms(self, token: int) -> int | None:
        """Current position, or None when the output cannot tell."""
        ...

    def audio_problem(self, token: int) -> str | None:
        """Why the playing item ``token`` reaches no sound device, or None.

        None also when the output cannot tell yet or at all. The loop asks
        once, a moment after the item started, and records a play nobody
        could hear as an error.
        """
        ...

    def close(self) -> None:
        """Stop everything and release every resource. Idempotent."""
        ...


def file_reader(f: BinaryIO) -> ReadAt:
    """A ``read_at`` over an open binary file (for :mod:`lomuz_rules.media_format`)."""

    def read_at(offset: int, size: int) -> bytes:
        f.seek(offset)
        return f.read(size)

    return read_at


def ensure_readable(path: Path) -> None:
    """Raise PlaybackError naming the file when it cannot be opened (before any libvlc call)."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise PlaybackError(f"cannot open {path.name}: {exc.strerror}") from exc
