"""What an uploaded file really is, decided from its bytes. Pure (I/O comes in as ``read_at``).

Why: a player's libvlc opens whatever it is given. A playlist (M3U/HLS, PLS,
XSPF, ASX, SMIL, SDP, DASH MPD, an ffmpeg concat list) uploaded as
``audio/mpeg`` makes every player of the shop fetch the URLs inside it from
the shop network. So the declared ``Content-Type`` decides nothing on its own:

1. ``Content-Type`` must be one of :data:`CONTENT_TYPES` (concrete subtypes; no
   ``image/svg+xml``, no wildcard).
2. :func:`identify` reads the leading bytes (magic numbers plus the few
   structural bytes that tell a real header from a magic followed by text)
   and names one of :data:`FORMATS`, or a :class:`Refusal` saying what was
   found ("an HLS playlist"). Everything not in the allow-list is refused;
   text of any kind always is.
3. The format must carry the declared media type (:func:`check_declared`).
4. MP4/MOV: no reference movie (``rmra``) and no data reference that is not
   self-contained (``dref`` entries without flag 1): those make a player
   open other files or URLs (:func:`mp4_external_reference`).
5. ffprobe, forced to the identified demuxer and allowed only the ``file``
   protocol, must read the file as that container and decode at least one
   frame of the declared type; its streams must fit the media type
   (:func:`check_probe`).

The functions only answer; the adapter (``control_api.media``) raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "HEAD_BYTES",
    "MediaFormat",
    "Probe",
    "ReadAt",
    "Refusal",
    "check_declared",
    "check_probe",
    "describe_text",
    "identify",
    "media_type_of",
    "mp4_external_reference",
    "parse_probe",
    "probe_duration_ms",
    "quota_refusal",
]

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size)``: up to ``size`` bytes from ``offset`` (fewer at the end)."""

HEAD_BYTES = 4096
# A moov box larger than this is not a signage file; refusing bounds the walk.
MAX_MOOV_BYTES = 64 * 1024 * 1024
_MAX_BOXES = 100_000

MEDIA_TYPES = ("audio", "video", "image")

CONTENT_TYPES: Mapping[str, frozenset[str]] = {
    "audio": frozenset({
        "mpeg", "mp3", "mpeg3", "x-mpeg", "mp4", "m4a", "x-m4a", "aac", "aacp", "x-aac",
        "flac", "x-flac", "ogg", "opus", "vorbis", "wav", "x-wav", "wave", "vnd.wave",
        "webm", "matroska", "x-matroska",
    }),
    "video": frozenset({
        "mp4", "x-m4v", "quicktime", "webm", "matroska", "x-matroska", "ogg",
    }),
    "image": frozenset({"png", "jpeg", "jpg", "pjpeg", "gif", "webp"}),
}  # fmt: skip


@dataclass(frozen=True)
class MediaFormat:
    """One allowed container; ``demuxer`` is the ffprobe ``-f`` name that must read it."""

    key: str
    label: str
    media_types: frozenset[str]
    demuxer: str
    format_names: frozenset[str]


def _fmt(key: str, label: str, types: str, demuxer: str, names: str = "") -> MediaFormat:
    return MediaFormat(
        key, label, frozenset(types.split()), demuxer, frozenset((names or demuxer).split())
    )


FORMATS: Mapping[str, MediaFormat] = {
    f.key: f
    for f in (
        _fmt("mp3", "MP3", "audio", "mp3"),
        _fmt("aac", "AAC (ADTS)", "audio", "aac"),
        _fmt("flac", "FLAC", "audio", "flac"),
        _fmt("ogg", "Ogg (Vorbis, Opus, FLAC, Theora)", "audio video", "ogg"),
        _fmt("wav", "WAV", "audio", "wav"),
        _fmt("mp4", "MP4/M4A/MOV", "audio video", "mov", "mov,mp4,m4a,3gp,3g2,mj2"),
        _fmt("matroska", "Matroska/WebM", "audio video", "matroska", "matroska,webm"),
        _fmt("png", "PNG", "image", "png_pipe"),
        _fmt("jpeg", "JPEG", "image", "jpeg_pipe"),
        _fmt("gif", "GIF", "image", "gif"),
        _fmt("webp", "WebP", "image", "webp_pipe"),
    )
}

# Image codecs ffprobe may report for an allowed image.
_IMAGE_CODECS = frozenset({"png", "mjpeg", "gif", "webp"})


@dataclass(frozen=True)
class Refusal:
    """Why a file is refused; ``found`` completes "the upload is ..."."""

    found: str
    detail: str = ""

    def message(self, media_type: str) -> str:
        found = f"{self.found} ({self.detail})" if self.detail else self.found
        return (
            f"the upload is {found}, not {media_type}; {media_type} must be"
            f" {allowed_labels(media_type)}"
        )


def allowed_labels(media_type: str) -> str:
    labels = [f.label for f in FORMATS.values() if media_type in f.media_types]
    return ", ".join(labels[:-1]) + " or " + labels[-1] if len(labels) > 1 else "".join(labels)


def media_type_of(content_type: str) -> str | None:
    """``audio``/``video``/``image`` for an allowed ``type/subtype`` (lowercase, no
    parameters), else None."""
    media_type, slash, subtype = content_type.partition("/")
    if not slash or subtype not in CONTENT_TYPES.get(media_type, frozenset()):
        return None
    return media_type


# ---------------------------------------------------------------- identification


def identify(read_at: ReadAt, size_bytes: int) -> MediaFormat | Refusal:
    """The allowed format of the ``size_bytes`` long file, from its leading bytes;
    else what it looks like."""
    head = read_at(0, HEAD_BYTES)
    found = _identify(head, read_at)
    if found == FORMATS["wav"]:
        return _wav_sizes(head, size_bytes)
    return found


def _identify(head: bytes, read_at: ReadAt) -> MediaFormat | Refusal:
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
        return FORMATS["mp3"]
    if _is_adts_frame(head):
        return FORMATS["aac"]
    if head.startswith(b"fLaC"):
        # The first metadata block is STREAMINFO (type 0), 34 bytes long.
        if len(head) >= 8 and head[4] & 0x7F == 0 and head[5:8] == b"\x00\x00\x22":
            return FORMATS["flac"]
        return Refusal("not FLAC", "'fLaC' is not followed by a STREAMINFO block")
    if head.startswith(b"OggS"):
        return _ogg(head)
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WAVE":
            return _wav(head)
        if kind == b"WEBP":
            if head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
                return FORMATS["webp"]
            return Refusal("not WebP", "no VP8 chunk after the RIFF header")
        if kind == b"AVI ":
            return Refusal("an AVI file")
        return Refusal("a RIFF file of another kind")
    if len(head) >= 12 and head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        if 8 <= size <= len(head) and all(0x20 <= b < 0x7F for b in head[8:12]):
            return FORMATS["mp4"]
        return Refusal("not MP4", "a broken 'ftyp' box")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"\x42\x82" in head[:64] and (b"matroska" in head[:64] or b"webm" in head[:64]):
            return FORMATS["matroska"]
        return Refusal("an EBML file that is not Matroska or WebM")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if head[12:16] == b"IHDR":
            return FORMATS["png"]
        return Refusal("not PNG", "no IHDR chunk after the signature")
    if head.startswith(b"\xff\xd8\xff"):
        return FORMATS["jpeg"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FORMATS["gif"]
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
    if isinstance(found, MediaFormat) and found.key in ("mp3", "aac", "flac"):
        return found
    if found is None:
        return Refusal(describe_text(stripped), "after an ID3 tag")
    return Refusal("not MP3", f"{found.label if isinstance(found, MediaFormat) else found.found}"
                   " after an ID3 tag")


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
        return FORMATS["ogg"]
    return Refusal("not Ogg", "the first packet is not Vorbis, Opus, FLAC or Theora")


# Writers that cannot seek back (a stream) leave the sizes 0 or all ones.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def _wav_sizes(head: bytes, size_bytes: int) -> MediaFormat | Refusal:
    """The RIFF size must fit the file: a real WAV header glued in front of something
    else (a playlist) says so by announcing more bytes than there are."""
    riff_bytes = int.from_bytes(head[4:8], "little")
    if riff_bytes not in _UNKNOWN_SIZES and riff_bytes + 8 > size_bytes + 1:
        return Refusal(
            "a damaged or truncated WAV",
            f"its header announces {riff_bytes + 8} bytes, the file has {size_bytes}",
        )
    return FORMATS["wav"]


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
                return FORMATS["wav"]
            return Refusal("not WAV", "an implausible 'fmt ' chunk")
        if not all(0x20 <= b < 0x7F for b in chunk):
            break
        at += 8 + size + (size & 1)
    return Refusal("not WAV", "no 'fmt ' chunk")


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


def check_declared(found: MediaFormat, media_type: str) -> Refusal | None:
    """Refusal when the identified format cannot carry the declared media type."""
    if media_type in found.media_types:
        return None
    return Refusal(f"{found.label} data")


# ---------------------------------------------------------------- MP4 references


def mp4_external_reference(read_at: ReadAt, size_bytes: int) -> str | None:
    """What in an MP4/MOV makes a player open another file or a URL, or None."""
    moov = _find_box(read_at, 0, size_bytes, b"moov")
    if moov is None:
        return None  # ffprobe refuses it ("moov atom not found")
    start, end = moov
    if end - start > MAX_MOOV_BYTES:
        return f"a 'moov' box over {MAX_MOOV_BYTES} bytes"
    data = read_at(start, end - start)
    return _scan_moov(data, 0, len(data), [0])


_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"dinf", b"edts", b"mvex", b"rmra"})


def _boxes(read_at: ReadAt, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, body start, box end) of the boxes in [start, end)."""
    out: list[tuple[bytes, int, int]] = []
    at = start
    while at + 8 <= end and len(out) < _MAX_BOXES:
        header = read_at(at, 16)
        if len(header) < 8:
            break
        size, kind, body = int.from_bytes(header[:4], "big"), header[4:8], at + 8
        if size == 1 and len(header) >= 16:
            size, body = int.from_bytes(header[8:16], "big"), at + 16
        elif size == 0:
            size = end - at
        if size < body - at or at + size > end:
            break
        out.append((kind, body, at + size))
        at += size
    return out


def _find_box(read_at: ReadAt, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body, box_end in _boxes(read_at, start, end):
        if found == kind:
            return body, box_end
    return None


def _scan_moov(data: bytes, start: int, end: int, count: list[int]) -> str | None:
    def read_at(offset: int, size: int) -> bytes:
        return data[offset : offset + size]

    for kind, body, box_end in _boxes(read_at, start, end):
        count[0] += 1
        if count[0] > _MAX_BOXES:
            return "too many boxes in 'moov'"
        if kind == b"rmra":
            return "a QuickTime reference movie (it points to other files or URLs)"
        if kind == b"dref":
            found = _external_dref(data[body:box_end])
            if found is not None:
                return found
        elif kind in _CONTAINERS:
            found = _scan_moov(data, body, box_end, count)
            if found is not None:
                return found
    return None


def _external_dref(body: bytes) -> str | None:
    """A data reference entry without the self-contained flag names another file or URL."""
    entries = int.from_bytes(body[4:8], "big")
    at = 8
    for _ in range(min(entries, 1000)):
        if at + 12 > len(body):
            return "a truncated data reference"
        size = int.from_bytes(body[at : at + 4], "big")
        kind = body[at + 4 : at + 8].decode("latin-1")
        flags = int.from_bytes(body[at + 9 : at + 12], "big")
        if not flags & 1:
            return f"a data reference ('{kind}') to another file or URL"
        if size < 12:
            return "a broken data reference"
        at += size
    return None


# ---------------------------------------------------------------- ffprobe's report


@dataclass(frozen=True)
class Probe:
    """What ffprobe read: container, duration, streams and the frames it decoded."""

    format_name: str
    duration_s: float | None
    streams: tuple[tuple[str, str, bool], ...]  # (codec_type, codec_name, attached_pic)
    decoded: frozenset[str]  # media types of the decoded frames


def parse_probe(doc: Any) -> Probe | None:
    """ffprobe's ``-of json`` document, or None when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("format"), dict):
        return None
    fmt = doc["format"]
    try:
        duration: float | None = float(fmt["duration"]) if "duration" in fmt else None
    except (TypeError, ValueError):
        duration = None
    streams = []
    for stream in doc.get("streams") or []:
        if isinstance(stream, dict):
            disposition = stream.get("disposition")
            attached = isinstance(disposition, dict) and disposition.get("attached_pic") == 1
            streams.append(
                (str(stream.get("codec_type", "")), str(stream.get("codec_name", "")), attached)
            )
    decoded = frozenset(
        str(f.get("media_type")) for f in doc.get("frames") or [] if isinstance(f, dict)
    )
    return Probe(str(fmt.get("format_name", "")), duration, tuple(streams), decoded)


def check_probe(found: MediaFormat, media_type: str, probe: Probe | None) -> Refusal | None:
    """Refusal unless ffprobe read ``found`` with streams fitting ``media_type``."""
    if probe is None or probe.format_name not in found.format_names:
        return Refusal(f"damaged {found.label} data", "ffprobe cannot read it")
    playable = [(kind, codec) for kind, codec, attached in probe.streams if not attached]
    kinds = {kind for kind, _ in playable}
    frame_type = "video" if media_type == "image" else media_type
    if frame_type not in probe.decoded:
        return Refusal(f"{found.label} data in which no {media_type} frame decodes")
    if media_type == "audio" and kinds != {"audio"}:
        return Refusal(f"{found.label} with {_kinds(kinds)} streams", "audio must be audio only")
    if media_type == "video" and "video" not in kinds:
        return Refusal(f"{found.label} without a video stream")
    if media_type == "image" and (
        len(playable) != 1 or kinds != {"video"} or playable[0][1] not in _IMAGE_CODECS
    ):
        return Refusal(f"{found.label} data that is not a single image")
    return None


def _kinds(kinds: set[str]) -> str:
    return "+".join(sorted(kinds)) or "no"


def probe_duration_ms(probe: Probe, media_type: str) -> int | None:
    """The media's duration; None for images and for unknown or sub-frame durations."""
    seconds = probe.duration_s
    if media_type == "image" or seconds is None or not 0.05 < seconds < float("inf"):
        return None
    return round(seconds * 1000)


# ---------------------------------------------------------------- quota


def quota_refusal(used_bytes: int, incoming_bytes: int, limit_bytes: int) -> str | None:
    """The refusal message when ``incoming_bytes`` more would pass the tenant's
    ``limit_bytes`` (0: no limit), else None."""
    if limit_bytes <= 0 or used_bytes + incoming_bytes <= limit_bytes:
        return None
    return (
        f"the tenant's media would take {used_bytes + incoming_bytes} bytes, over its quota"
        f" of {limit_bytes} bytes ({used_bytes} used, this upload {incoming_bytes});"
        " delete assets first"
    )
