"""Real minimal media for upload tests: the API refuses bytes that are not media.

Each builder takes a ``payload`` so that tests get distinct files (distinct
sha256) from distinct payloads, as they did with raw bytes: ``wav(b"song")``.
``wav`` and ``png`` are built by hand (any payload is valid PCM samples or a
private PNG chunk); ``mp4`` and ``mp3`` come from ffmpeg once per session,
with the payload in a trailing box or ID3 tag.
"""

from __future__ import annotations

import functools
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

__all__ = ["ffmpeg_file", "mp3", "mp4", "png", "wav"]


def wav(payload: bytes = b"", *, rate_hz: int = 8000, min_samples: int = 800) -> bytes:
    """8-bit mono PCM whose samples are ``payload`` (padded with silence to
    ``min_samples``, 0.1 s by default, so that a frame decodes)."""
    data = payload + b"\x80" * max(0, min_samples - len(payload))
    if len(data) % 2:
        data += b"\x80"
    fmt = struct.pack("<HHIIHH", 1, 1, rate_hz, rate_hz, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(payload: bytes = b"") -> bytes:
    """A 1x1 grey PNG carrying ``payload`` in a private ancillary chunk."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if payload:
        out += _chunk(b"prIv", payload)
    return out + _chunk(b"IDAT", zlib.compress(b"\x00\x7f")) + _chunk(b"IEND", b"")


@functools.cache
def ffmpeg_file(suffix: str, *args: str) -> bytes:
    """The bytes ffmpeg writes for ``args`` (a lavfi source), made once per session."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to build media samples (apt install ffmpeg)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"sample{suffix}"
        subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args, str(out)],
            check=True, stdin=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        return out.read_bytes()


def mp4(payload: bytes = b"") -> bytes:
    """A 0.2 s 16x16 MPEG-4 video, ``payload`` in a trailing ``free`` box."""
    base = ffmpeg_file(".mp4", "-f", "lavfi", "-i", "color=c=red:s=16x16:d=0.2", "-c:v", "mpeg4")
    return base + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def mp3(payload: bytes = b"") -> bytes:
    """A 0.2 s MP3 tone, ``payload`` in an ID3v2 TXXX frame in front."""
    base = ffmpeg_file(".mp3", "-f", "lavfi", "-i", "sine=d=0.2", "-id3v2_version", "0")
    if not payload:
        return base
    frame_body = b"\x00" + b"lomuz\x00" + payload
    frame = b"TXXX" + struct.pack(">I", len(frame_body)) + b"\x00\x00" + frame_body
    return b"ID3\x03\x00\x00" + _syncsafe(len(frame)) + frame + base


def _syncsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))
