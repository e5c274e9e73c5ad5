"""The media allow-list, and what a file is from its leading bytes (I/O comes in as ``read_at``).

Why: libvlc opens whatever it is given. A playlist or manifest (M3U/HLS, PLS,
XSPF, ASX, SMIL, SDP, DASH MPD, an ffmpeg concat list) uploaded as
``audio/mpeg`` makes every player of the shop fetch the URLs inside it from
the shop network. So only an allow-list of containers is ever accepted, by
the API on upload and by the player before it hands a file to libvlc, and
both judge with this one module:

1. :data:`FORMATS`: each allowed container, its label and the media types it
   can carry.
2. The text rule (:func:`looks_like_text`): when the first
   ``TEXT_WINDOW_BYTES`` read as plain text the file is refused, whatever
   magic it starts with. Every allowed format has a NUL, a control byte or a
   byte that is not UTF-8 there; a text file that happens to start with
   ``RIFF`` or ``GIF89a`` does not.
3. :func:`identify`: magic numbers plus the few structural bytes that tell a
   real header from a magic followed by something else, naming one of
   :data:`FORMATS`, or a :class:`Refusal` saying what was found ("an HLS
   playlist"). Everything not in the allow-list is refused.

Deeper checks stay with their side: the API's WAV sizes, MP4 references,
ffprobe and quota (``control_api.core.media_content``); the player's verdict
for an asset's type (``player.core.media_format``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lomuz_rules.model import MediaType

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size)``: up to ``size`` bytes from ``offset`` (fewer at the end)."""

HEAD_BYTES = 4096  # what identification reads first (and, behind an ID3 tag, again)
TEXT_WINDOW_BYTES = 64
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v")


class MediaFormat(enum.StrEnum):
    MP3 = "mp3"
    AAC = "aac"  # ADTS
    FLAC = "flac"
    OGG = "ogg"
    WAV = "wav"
    MP4 = "mp4"  # ISO BMFF: mp4, m4a, mov (an ``ftyp`` box first)
    MATROSKA = "matroska"  # mkv, mka, webm
    PNG = "png"
    JPEG = "jpeg"
    GIF = "gif"
    WEBP = "webp"


@dataclass(frozen=True)
class FormatSpec:
    """One allowed container: its name in messages and the media types it carries."""

    format: MediaFormat
    label: str
    media_types: frozenset[MediaType]


_AUDIO = frozenset({MediaType.AUDIO})
_AUDIO_VIDEO = frozenset({MediaType.AUDIO, MediaType.VIDEO})
_IMAGE = frozenset({MediaType.IMAGE})

FORMATS: Mapping[MediaFormat, FormatSpec] = {
    spec.format: spec
    for spec in (
        FormatSpec(MediaFormat.MP3, "MP3", _AUDIO),
        FormatSpec(MediaFormat.AAC, "AAC (ADTS)", _AUDIO),
        FormatSpec(MediaFormat.FLAC, "FLAC", _AUDIO),
        FormatSpec(MediaFormat.OGG, "Ogg (Vorbis, Opus, FLAC, Theora)", _AUDIO_VIDEO),
        FormatSpec(MediaFormat.WAV, "WAV", _AUDIO),
        FormatSpec(MediaFormat.MP4, "MP4/M4A/MOV", _AUDIO_VIDEO),
        FormatSpec(MediaFormat.MATROSKA, "Matroska/WebM", _AUDIO_VIDEO),
        FormatSpec(MediaFormat.PNG, "PNG", _IMAGE),
        FormatSpec(MediaFormat.JPEG, "JPEG", _IMAGE),
        FormatSpec(MediaFormat.GIF, "GIF", _IMAGE),
        FormatSpec(MediaFormat.WEBP, "WebP", _IMAGE),
    )
}


def carries(fmt: MediaFormat, media_type: str) -> bool:
    """Whether ``fmt`` may hold an asset of ``media_type`` (``audio``/``video``/``image``)."""
    return media_type in FORMATS[fmt].media_types


def allowed_labels(media_type: str) -> str:
    """The labels of the formats that carry ``media_type``, as a sentence ("A, B or C")."""
    labels = [f.label for f in FORMATS.values() if media_type in f.media_types]
    return ", ".join(labels[:-1]) + " or " + labels[-1] if len(labels) > 1 else "".join(labels)


@dataclass(frozen=True)
class Refusal:
    """Why a file is refused; ``found`` completes "the upload is ..."."""

    found: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.found} ({self.detail})" if self.detail else self.found

    def message(self, media_type: str) -> str:
        return (
            f"the upload is {self.describe()}, not {media_type}; {media_type} must be"
            f" {allowed_labels(media_type)}"
        )


def bytes_reader(data: bytes) -> ReadAt:
    """A ``read_at`` over bytes in memory."""
    return lambda offset, size: data[offset : offset + size]


# ---------------------------------------------------------------- the text rule


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
            decoded16 = even.decode("utf-16")
        except UnicodeDecodeError as exc:
            # A surrogate pair cut at the window's end is still text.
            decoded16 = even[: exc.start].decode("utf-16") if exc.start >= len(even) - 2 else ""
        if decoded16 and _printable(decoded16):
            return True
    try:
        decoded = window.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(window) - 3:  # not just a character cut at the window's end
            return False
        decoded = window[: exc.start].decode("utf-8")
    return _printable(decoded)


# ---------------------------------------------------------------- identification


def identify(read_at: ReadAt) -> MediaFormat | Refusal:
    """The allowed format of the file ``read_at`` reads, from its leading bytes;
    else what it looks like."""
    head = read_at(0, HEAD_BYTES)
    if head and looks_like_text(head):
        return Refusal(describe_text(head))
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        text = describe_text(head)  # a byte order mark: text, unless it does not decode
        if text != _NOT_TEXT:
            return Refusal(text)
    if head.startswith(b"ID3"):
        return _after_id3(head, read_at)
    found = _binary_format(head)
    if found is not None:
        return found
    return Refusal(describe_text(head))


def _binary_format(head: bytes) -> MediaFormat | Refusal | None:
    if _is_mpeg_audio_frame(head):
        return MediaFormat.MP3
    if _is_adts_frame(head):
        return MediaFormat.AAC
    if head.startswith(b"fLaC"):
        # The first metadata block is STREAMINFO (type 0), 34 bytes long.
        if len(head) >= 8 and head[4] & 0x7F == 0 and head[5:8] == b"\x00\x00\x22":
            return MediaFormat.FLAC
        return Refusal("not FLAC", "'fLaC' is not followed by a STREAMINFO block")
    if head.startswith(b"OggS"):
        return _ogg(head)
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WAVE":
            return _wav(head)
        if kind == b"WEBP":
            if head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
                return MediaFormat.WEBP
            return Refusal("not WebP", "no VP8 chunk after the RIFF header")
        if kind == b"AVI ":
            return Refusal("an AVI file")
        return Refusal("a RIFF file of another kind")
    if len(head) >= 12 and head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        if 8 <= size <= len(head) and all(0x20 <= b < 0x7F for b in head[8:12]):
            return MediaFormat.MP4
        return Refusal("not MP4", "a broken 'ftyp' box")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"\x42\x82" in head[:64] and (b"matroska" in head[:64] or b"webm" in head[:64]):
            return MediaFormat.MATROSKA
        return Refusal("an EBML file that is not Matroska or WebM")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if head[12:16] == b"IHDR":
            return MediaFormat.PNG
        return Refusal("not PNG", "no IHDR chunk after the signature")
    if head.startswith(b"\xff\xd8\xff"):
        return MediaFormat.JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaFormat.GIF
    if len(head) >= 376 and head[0] == 0x47 and head[188] == 0x47:
        return Refusal("an MPEG transport stream")
    return None


def _after_id3(head: bytes, read_at: ReadAt) -> MediaFormat | Refusal:
    """An ID3v2 tag must be followed by MPEG audio, ADTS or FLAC: ffmpeg and libvlc
    skip the tag before guessing, so a tag in front of a playlist hides nothing."""
    if len(head) < 10 or not 2 <= head[3] <= 4 or any(b >= 0x80 for b in head[6:10]):
        return Refusal("not MP3", "a broken ID3v2 header")
    size = 0
    for b in head[6:10]:
        size = (size << 7) | b
    end = 10 + size + (10 if head[5] & 0x10 else 0)
    after = read_at(end, HEAD_BYTES)
    # Some encoders pad after the tag; a few zero bytes are tolerated.
    stripped = after.lstrip(b"\x00")
    if len(after) - len(stripped) > 1024:
        return Refusal("not MP3", "only zeros after the ID3 tag")
    if after.startswith(b"ID3"):
        return Refusal("not MP3", "ID3 tag after ID3 tag")
    found = _binary_format(stripped)
    if found in (MediaFormat.MP3, MediaFormat.AAC, MediaFormat.FLAC):
        return found
    if found is None:
        return Refusal(describe_text(stripped), "after an ID3 tag")
    what = FORMATS[found].label if isinstance(found, MediaFormat) else found.found
    return Refusal("not MP3", f"{what} after an ID3 tag")


# kbit/s by [MPEG-1?][layer 1..3][index]; Hz by [version][index].
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_bytes(head: bytes, at: int) -> int | None:
    """The length of the MPEG audio frame whose header is at ``at``, or None."""
    h = head[at : at + 4]
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 3, 4 - ((h[1] >> 1) & 3)
    bitrate_index, rate_index, padding = h[2] >> 4, (h[2] >> 2) & 3, (h[2] >> 1) & 1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate_hz = _RATES_HZ[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate_hz + padding) * 4
    per_frame = 144 if layer == 2 or mpeg1 else 72
    return per_frame * bitrate // rate_hz + padding


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """A frame header, and another one where the frame ends (text in UTF-16 with
    a BOM looks like one header, never like two)."""
    size = _mpeg_frame_bytes(head, 0)
    if size is None:
        return False
    if size + 4 > len(head):
        return len(head) < HEAD_BYTES and size >= len(head)  # a file of one frame
    return _mpeg_frame_bytes(head, size) is not None


def _is_adts_frame(head: bytes) -> bool:
    if len(head) < 7 or head[0] != 0xFF or head[1] & 0xF6 != 0xF0:
        return False
    rate_index = (head[2] >> 2) & 0xF
    frame_bytes = ((head[3] & 3) << 11) | (head[4] << 3) | (head[5] >> 5)
    if rate_index >= 13 or frame_bytes < 7:
        return False
    if frame_bytes + 2 > len(head):
        return len(head) < HEAD_BYTES and frame_bytes >= len(head)
    return head[frame_bytes] == 0xFF and head[frame_bytes + 1] & 0xF6 == 0xF0


_OGG_CODECS = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"\x80theora")


def _ogg(head: bytes) -> MediaFormat | Refusal:
    if len(head) < 27 or head[4] != 0:
        return Refusal("not Ogg", "a broken page header")
    start = 27 + head[26]
    packet = head[start : start + 8]
    if any(packet.startswith(codec) for codec in _OGG_CODECS):
        return MediaFormat.OGG
    return Refusal("not Ogg", "the first packet is not Vorbis, Opus, FLAC or Theora")


def _wav(head: bytes) -> MediaFormat | Refusal:
    """Chunks after ``WAVE`` up to ``fmt ``: a sane PCM-ish format description."""
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        if chunk == b"fmt ":
            body = head[at + 8 : at + 8 + min(size, 16)]
            if size < 16 or len(body) < 16:
                return Refusal("not WAV", "a 'fmt ' chunk too short")
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")
            bits = int.from_bytes(body[14:16], "little")
            if 1 <= channels <= 64 and 1000 <= rate <= 768_000 and 1 <= bits <= 64:
                return MediaFormat.WAV
            return Refusal("not WAV", "an implausible 'fmt ' chunk")
        if not all(0x20 <= b < 0x7F for b in chunk):
            break
        at += 8 + size + (size & 1)
    return Refusal("not WAV", "no 'fmt ' chunk")


# ---------------------------------------------------------------- naming what is not media

_NOT_TEXT = "data in no allowed format"
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_XML_ROOT = re.compile(r"<([a-z][\w.:-]*)")
_XML_KINDS = {
    "mpd": "a DASH manifest (MPD)",
    "playlist": "an XSPF playlist",
    "asx": "an ASX playlist",
    "smil": "a SMIL document",
    "svg": "an SVG image",
    "html": "an HTML document",
    "rss": "an RSS feed",
}


def describe_text(head: bytes) -> str:
    """What non-media leading bytes look like, for the refusal message."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if head.startswith(bom):
            head, encoding = head[len(bom) :], name
            break
    else:
        if len(head) >= 4 and head[0] == 0 and head[1] != 0:
            encoding = "utf-16-be"
        elif len(head) >= 4 and head[1] == 0 and head[0] != 0:
            encoding = "utf-16-le"
    text = head.decode(encoding, "replace").lstrip("\ufeff \t\r\n\x00").lower()
    if not text:
        return "empty or blank"
    if text.startswith("#extm3u") or "#ext-x-" in text[:1024]:
        return "an HLS playlist" if "#ext-x-" in text else "an M3U playlist"
    if text.startswith("[playlist]"):
        return "a PLS playlist"
    if text.startswith("ffconcat") or re.match(r"file\s+['\"]?\S", text):
        return "an ffmpeg concat list"
    if re.match(r"v=0\s", text):
        return "an SDP session description"
    if text.startswith("<"):
        body = re.sub(r"<\?.*?\?>|<!--.*?-->", "", text, flags=re.DOTALL).lstrip()
        if body.startswith("<!doctype html"):
            return "an HTML document"
        root = _XML_ROOT.match(body)
        name = root.group(1).rsplit(":", 1)[-1] if root else ""
        return _XML_KINDS.get(name, "an XML or HTML document")
    if text.startswith("%pdf"):
        return "a PDF document"
    printable = sum(1 for c in text[:512] if c.isprintable() or c in "\t\r\n")
    if printable >= 0.9 * min(len(text), 512):
        return "text with URLs" if "://" in text else "text"
    return _NOT_TEXT
