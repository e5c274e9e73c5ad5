"""What the media outputs (``VlcOutput``, ``NullOutput``) share.

Their role interface, ``MediaOutput``, and its events are in ``player.ports``.
"""

from __future__ import annotations

from pathlib import Path

from player.errors import PlaybackError


def ensure_readable(path: Path) -> None:
    """Raise PlaybackError naming the file when it cannot be opened (before any libvlc call)."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise PlaybackError(f"cannot open {path.name}: {exc.strerror}") from exc
