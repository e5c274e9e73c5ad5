"""Which media formats the player hands to libvlc, judged from a file's leading bytes.

A file's hash proves it is what the director uploaded, not that it is media:
libvlc opens playlists and manifests (M3U/HLS, DASH MPD, PLS, XSPF, ASX,
SMIL, SDP, ffmpeg concat, ...) as happily as music, and then fetches the URLs
inside them from the shop network. So only an allow-list of container
signatures (magic numbers) is played, each for the media types it can carry,
and everything else is refused: text of any kind, markup, unknown binaries.

Besides the signature, the first ``TEXT_WINDOW_BYTES`` must not read as plain
text: every allowed format has a NUL, a control byte or a byte that is not
UTF-8 there, while a text file that happens to start with ``RIFF`` or
``GIF89a`` does not.

Pure: bytes in, verdict out. ``SNIFF_BYTES`` is how much the caller reads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lomuz_rules.model import MediaType

SNIFF_BYTES = 4096
TEXT_WINDOW_BYTES = 64
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v")


class MediaFormat(enum.StrEnum):
    MP3 = "mp3"
    AAC = "aac"  # ADTS
    FLAC = "flac"
    OGG = "ogg"
    WAV = "wav"
    MP4 = "mp4"  # ISO BMFF: mp4, m4a, mov (an ``ftyp`` box first)
    MATROSKA = "matroska"  # mkv, webm
    PNG = "png"
    JPEG = "jpeg"
    GIF = "gif"
    WEBP = "webp"


_AUDIO = frozenset({MediaType.AUDIO})
_AUDIO_VIDEO = frozenset({MediaType.AUDIO, MediaType.VIDEO})
_IMAGE = frozenset({MediaType.IMAGE})

MEDIA_TYPES: dict[MediaFormat, frozenset[MediaType]] = {
    MediaFormat.MP3: _AUDIO,
    MediaFormat.AAC: _AUDIO,
    MediaFormat.FLAC: _AUDIO,
    MediaFormat.OGG: _AUDIO_VIDEO,
    MediaFormat.WAV: _AUDIO,
    MediaFormat.MP4: _AUDIO_VIDEO,
    MediaFormat.MATROSKA: _AUDIO_VIDEO,
    MediaFormat.PNG: _IMAGE,
    MediaFormat.JPEG: _IMAGE,
    MediaFormat.GIF: _IMAGE,
    MediaFormat.WEBP: _IMAGE,
}


@dataclass(frozen=True)
class MediaVerdict:
    """``format`` when the file may be played as the asset's type, else ``problem``."""

    format: MediaFormat | None
    problem: str | None

    @property
    def accepted(self) -> bool:
        return self.problem is None


def _mpeg_audio_sync(head: bytes, at: int = 0) -> bool:
    """An MPEG-1/2/2.5 layer I-III frame header at ``at``."""
    if len(head) < at + 3 or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return False
    version = (head[at + 1] >> 3) & 0x3
    layer = (head[at + 1] >> 1) & 0x3
    bitrate = head[at + 2] >> 4
    rate = (head[at + 2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate != 0xF and rate != 3


def _adts_sync(head: bytes, at: int = 0) -> bool:
    """An AAC ADTS frame header at ``at`` (12-bit sync, layer 0, a real sample rate)."""
    if len(head) < at + 3 or head[at] != 0xFF or head[at + 1] & 0xF6 != 0xF0:
        return False
    return (head[at + 2] >> 2) & 0xF < 13


def _id3_payload(head: bytes) -> MediaFormat | None:
    """MP3 (or FLAC/ADTS) behind an ID3v2 tag."""
    if len(head) < 10 or head[3] not in (2, 3, 4) or any(b & 0x80 for b in head[6:10]):
        return None
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    end = 10 + size + (10 if head[5] & 0x10 else 0)  # footer flag
    if end >= len(head):
        # A large tag (cover art) runs past what was read: the tag header is the
        # evidence, and libvlc's demuxer is pinned to MPEG audio anyway.
        return MediaFormat.MP3
    while end < len(head) and head[end] == 0:  # padding some taggers leave after the tag
        end += 1
    if head.startswith(b"fLaC", end):
        return MediaFormat.FLAC
    if _adts_sync(head, end):
        return MediaFormat.AAC
    if _mpeg_audio_sync(head, end) or end >= len(head):
        return MediaFormat.MP3
    return None


def _signature(head: bytes) -> MediaFormat | None:
    if head.startswith(b"ID3"):
        return _id3_payload(head)
    if _adts_sync(head):
        return MediaFormat.AAC
    if _mpeg_audio_sync(head):
        return MediaFormat.MP3
    if head.startswith(b"fLaC") and len(head) > 4 and head[4] & 0x7F == 0:  # STREAMINFO
        return MediaFormat.FLAC
    if head.startswith(b"OggS\x00"):
        return MediaFormat.OGG
    if head.startswith(b"RIFF") and len(head) >= 16:
        if head[8:12] == b"WAVE":
            return MediaFormat.WAV
        if head[8:12] == b"WEBP" and head[12:15] == b"VP8":
            return MediaFormat.WEBP
        return None
    if head[4:8] == b"ftyp" and int.from_bytes(head[0:4], "big") >= 8:
        return MediaFormat.MP4
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaFormat.MATROSKA
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaFormat.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return MediaFormat.JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return MediaFormat.GIF
    return None


def _printable(decoded: str) -> bool:
    return all(ord(c) >= 0x20 or ord(c) in _TEXT_CONTROLS for c in decoded)


def looks_like_text(head: bytes) -> bool:
    """True when the first ``TEXT_WINDOW_BYTES`` are printable text (no NUL, no controls).

    UTF-8 (with or without a byte-order mark), or UTF-16 behind its mark.
    """
    window = head[:TEXT_WINDOW_BYTES]
    if window.startswith((b"\xff\xfe", b"\xfe\xff")):
        even = window[: len(window) // 2 * 2]
        try:
            if _printable(even.decode("utf-16")):
                return True
        except UnicodeDecodeError:
            pass
    try:
        decoded = window.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(window) - 3:  # not just a character cut at the window's end
            return False
        decoded = window[: exc.start].decode("utf-8")
    return _printable(decoded)


def identify(head: bytes) -> MediaFormat | None:
    """The allowed format ``head`` (a file's first bytes) starts with, or None."""
    if not head or looks_like_text(head):
        return None
    return _signature(head)


def judge(head: bytes, media_type: MediaType) -> MediaVerdict:
    """May a file starting with ``head`` be played as an asset of ``media_type``?"""
    if not head:
        return MediaVerdict(None, "the file is empty")
    fmt = identify(head)
    if fmt is None:
        kind = "text (a playlist, manifest or markup?)" if looks_like_text(head) else "unknown"
        return MediaVerdict(None, f"not an allowed media format: {kind} content")
    if media_type not in MEDIA_TYPES[fmt]:
        return MediaVerdict(fmt, f"{fmt} content does not fit a {media_type} asset")
    return MediaVerdict(fmt, None)
