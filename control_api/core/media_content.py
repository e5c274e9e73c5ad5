"""What an uploaded file really is, decided from its bytes. Pure (I/O comes in as ``read_at``).

Why: a player's libvlc opens whatever it is given. A playlist (M3U/HLS, PLS,
XSPF, ASX, SMIL, SDP, DASH MPD, an ffmpeg concat list) uploaded as
``audio/mpeg`` makes every player of the shop fetch the URLs inside it from
the shop network. So the declared ``Content-Type`` decides nothing on its own:

1. ``Content-Type`` must be one of :data:`CONTENT_TYPES` (concrete subtypes; no
   ``image/svg+xml``, no wildcard).
2. :func:`identify` reads the leading bytes with the allow-list the player
   uses too (:mod:`lomuz_rules.media_format`: magic numbers, the structural
   bytes that tell a real header from a magic followed by text, the text
   rule) and names one of :data:`FORMATS`, or a :class:`Refusal` saying what
   was found ("an HLS playlist"). Everything not in the allow-list is
   refused; text of any kind always is. A WAV's RIFF size must fit the file.
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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lomuz_rules import media_format as rules
from lomuz_rules.media_format import HEAD_BYTES, ReadAt, Refusal, allowed_labels, describe_text

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "HEAD_BYTES",
    "MediaFormat",
    "Probe",
    "ReadAt",
    "Refusal",
    "allowed_labels",
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
    """One allowed container as the API checks it: the shared entry
    (:data:`lomuz_rules.media_format.FORMATS`) plus ``demuxer``, the ffprobe
    ``-f`` name that must read it, and the ``format_name`` values it may report."""

    key: str
    label: str
    media_types: frozenset[str]
    demuxer: str
    format_names: frozenset[str]


# (ffprobe demuxer, format names it reports when not just the demuxer's name)
_PROBE_NAMES: Mapping[rules.MediaFormat, tuple[str, str]] = {
    rules.MediaFormat.MP3: ("mp3", ""),
    rules.MediaFormat.AAC: ("aac", ""),
    rules.MediaFormat.FLAC: ("flac", ""),
    rules.MediaFormat.OGG: ("ogg", ""),
    rules.MediaFormat.WAV: ("wav", ""),
    rules.MediaFormat.MP4: ("mov", "mov,mp4,m4a,3gp,3g2,mj2"),
    rules.MediaFormat.MATROSKA: ("matroska", "matroska,webm"),
    rules.MediaFormat.PNG: ("png_pipe", ""),
    rules.MediaFormat.JPEG: ("jpeg_pipe", ""),
    rules.MediaFormat.GIF: ("gif", ""),
    rules.MediaFormat.WEBP: ("webp_pipe", ""),
}


def _api_format(spec: rules.FormatSpec) -> MediaFormat:
    demuxer, names = _PROBE_NAMES[spec.format]
    return MediaFormat(
        spec.format.value,
        spec.label,
        frozenset(t.value for t in spec.media_types),
        demuxer,
        frozenset((names or demuxer).split()),
    )


FORMATS: Mapping[str, MediaFormat] = {
    fmt.value: _api_format(spec) for fmt, spec in rules.FORMATS.items()
}

# Image codecs ffprobe may report for an allowed image.
_IMAGE_CODECS = frozenset({"png", "mjpeg", "gif", "webp"})


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
    found = rules.identify(read_at)
    if isinstance(found, Refusal):
        return found
    if found is rules.MediaFormat.WAV:
        return _wav_sizes(read_at(0, 8), size_bytes)
    return FORMATS[found.value]


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
