"""May the player hand a file to libvlc as an asset of its media type?

A file's hash proves it is what the director uploaded, not that it is media:
libvlc opens playlists and manifests (M3U/HLS, DASH MPD, PLS, XSPF, ASX,
SMIL, SDP, ffmpeg concat, ...) as happily as music, and then fetches the URLs
inside them from the shop network. So the player identifies every file with
the allow-list the API applied on upload (:mod:`lomuz_rules.media_format`:
the container signatures, the media types each carries, the text rule) and
refuses everything else: text of any kind, markup, unknown binaries.

Pure: ``read_at`` in (the caller reads the file), verdict out; ``file_reader``
turns a file the caller opened into a ``read_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from lomuz_rules.media_format import HEAD_BYTES, MediaFormat, ReadAt, Refusal, carries, identify
from lomuz_rules.model import MediaType


@dataclass(frozen=True)
class MediaVerdict:
    """``format`` when the file may be played as the asset's type, else ``problem``."""

    format: MediaFormat | None
    problem: str | None

    @property
    def accepted(self) -> bool:
        return self.problem is None


def judge(read_at: ReadAt, media_type: MediaType) -> MediaVerdict:
    """May the file ``read_at`` reads be played as an asset of ``media_type``?"""
    if not read_at(0, HEAD_BYTES):
        return MediaVerdict(None, "the file is empty")
    found = identify(read_at)
    if isinstance(found, Refusal):
        return MediaVerdict(None, f"not an allowed media format: {found.describe()}")
    if not carries(found, media_type):
        return MediaVerdict(found, f"{found} content does not fit a {media_type} asset")
    return MediaVerdict(found, None)


def file_reader(f: BinaryIO) -> ReadAt:
    """A ``read_at`` over a binary file the caller opened (and closes)."""

    def read_at(offset: int, size: int) -> bytes:
        f.seek(offset)
        return f.read(size)

    return read_at
