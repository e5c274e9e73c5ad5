"""The media allow-list: what libvlc may be handed, judged from a file's first bytes.

Identification is lomuz_rules.media_format (the API's too); the verdict for an
asset's type is the player's judge."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lomuz_rules.media_format import MediaFormat, bytes_reader, identify, looks_like_text
from lomuz_rules.model import MediaType
from player.core.media_format import MediaVerdict
from player.core.media_format import judge as judge_reader


def allowed(data: bytes) -> MediaFormat | None:
    """The allowed format of a file holding ``data``, None when refused."""
    found = identify(bytes_reader(data))
    return found if isinstance(found, MediaFormat) else None


def judge(data: bytes, media_type: MediaType) -> MediaVerdict:
    return judge_reader(bytes_reader(data), media_type)


# --- text that libvlc would open as a playlist or manifest and then fetch ---------------

_hosts = st.sampled_from(["127.0.0.1", "10.0.0.7", "intranet.shop", "[::1]", "192.168.1.1:8080"])
_schemes = st.sampled_from(["http", "https", "rtsp", "rtp", "udp", "mms", "ftp", "file", "smb"])
_paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/._-?=&%", max_size=40)
urls = st.builds(lambda s, h, p: f"{s}://{h}/{p}", _schemes, _hosts, _paths)


def _m3u(url_list: list[str]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10"]
    for url in url_list:
        lines += ["#EXTINF:10.0,", url]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def _plain_m3u(url_list: list[str]) -> str:
    return "\n".join(url_list) + "\n"


def _pls(url_list: list[str]) -> str:
    entries = [f"File{i + 1}={u}" for i, u in enumerate(url_list)]
    return "[playlist]\n" + "\n".join(entries) + f"\nNumberOfEntries={len(url_list)}\n"


def _mpd(url_list: list[str]) -> str:
    segs = "".join(f'<SegmentURL media="{u}"/>' for u in url_list)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
        f'type="static"><Period><AdaptationSet><Representation id="a" bandwidth="1">'
        f'<SegmentList duration="10">{segs}</SegmentList></Representation>'
        "</AdaptationSet></Period></MPD>"
    )


def _xspf(url_list: list[str]) -> str:
    tracks = "".join(f"<track><location>{u}</location></track>" for u in url_list)
    return (
        '<?xml version="1.0"?><playlist version="1" xmlns="http://xspf.org/ns/0/">'
        f"<trackList>{tracks}</trackList></playlist>"
    )


def _asx(url_list: list[str]) -> str:
    return (
        '<asx version="3.0">'
        + "".join(f'<entry><ref href="{u}"/></entry>' for u in url_list)
        + "</asx>"
    )


def _smil(url_list: list[str]) -> str:
    return (
        "<smil><body><seq>"
        + "".join(f'<audio src="{u}"/>' for u in url_list)
        + ("</seq></body></smil>")
    )


def _sdp(url_list: list[str]) -> str:
    head = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n"
    return head + "".join(f"a=control:{u}\n" for u in url_list)


def _svg(url_list: list[str]) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg">'
        + "".join(f'<image href="{u}"/>' for u in url_list)
        + "</svg>"
    )


def _html(url_list: list[str]) -> str:
    return (
        "<!DOCTYPE html><html><body>"
        + "".join(f'<audio src="{u}"></audio>' for u in url_list)
        + "</body></html>"
    )


def _concat(url_list: list[str]) -> str:
    return "ffconcat version 1.0\n" + "".join(f"file '{u}'\n" for u in url_list)


_FORMATS = [_m3u, _plain_m3u, _pls, _mpd, _xspf, _asx, _smil, _sdp, _svg, _html, _concat]

# Text: printable characters and the usual white space (no control bytes, no NUL).
_text_chars = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\n\r\f\v")

# What may come before the playlist: nothing, a BOM, blank lines, comments, or any text.
prefixes = st.one_of(
    st.just(""),
    st.sampled_from(["\ufeff", "\n\n", "   ", "\t", "# lomuz\n", "<!-- x -->", "\r\n"]),
    st.text(_text_chars, max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(_FORMATS),
    url_list=st.lists(urls, min_size=1, max_size=5),
    prefix=prefixes,
    media_type=st.sampled_from(list(MediaType)),
)
def test_playlists_and_manifests_with_urls_are_refused(
    kind: Callable[[list[str]], str], url_list: list[str], prefix: str, media_type: MediaType
) -> None:
    body = (prefix + kind(url_list)).encode()
    assert allowed(body) is None
    verdict = judge(body, media_type)
    assert not verdict.accepted and verdict.problem


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(_text_chars, max_size=300),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_any_text_is_refused(text: str, encoding: str) -> None:
    assert allowed(text.encode(encoding)) is None


def test_utf16_text_cut_inside_a_surrogate_pair_is_still_text() -> None:
    # Found by hypothesis: the text window ended inside a pair, the decode failed,
    # and the BOM (FF FE) plus the text read as two MPEG audio frame headers.
    body = ("0" * 16 + "\U00010000" * 5 + "\U00012544\U00018cd6\U00018cd6").encode("utf-16")
    assert looks_like_text(body)
    assert allowed(body) is None


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(st.characters(max_codepoint=0x7E), max_size=300),
    encoding=st.sampled_from(["utf-16-le", "utf-16-be"]),
)
def test_ascii_text_in_utf16_without_a_mark_is_refused(text: str, encoding: str) -> None:
    assert allowed(text.encode(encoding)) is None


@settings(max_examples=300, deadline=None)
@given(text=st.text(_text_chars, max_size=300))
def test_text_is_refused_even_behind_a_media_signature(text: str) -> None:
    for magic in (
        "RIFF1234WAVEfmt ",
        "GIF89a",
        "fLaC",
        "OggS",
        "ID3",
        "RIFF0000WEBPVP8 ",
        "\ufeffGIF87a",
    ):
        body = (magic + text).encode()
        assert allowed(body) is None, body[:80]


def test_empty_and_unknown_binaries_are_refused() -> None:
    assert judge(b"", MediaType.AUDIO).problem == "the file is empty"
    assert allowed(b"\x7fELF\x02\x01\x01" + bytes(60)) is None
    assert allowed(b"PK\x03\x04" + bytes(60)) is None  # a zip
    assert allowed(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3") is None


# --- real media made with ffmpeg ------------------------------------------------------

_FFMPEG_FILES: dict[str, tuple[list[str], MediaFormat, MediaType]] = {
    "tone.mp3": (
        ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libmp3lame"],
        MediaFormat.MP3,
        MediaType.AUDIO,
    ),
    "bare.mp3": (
        [
            "-f",
            "lavfi",
            "-i",
            "sine=d=1",
            "-c:a",
            "libmp3lame",
            "-id3v2_version",
            "0",
            "-write_xing",
            "0",
        ],
        MediaFormat.MP3,
        MediaType.AUDIO,
    ),
    "tone.aac": (
        ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", "-f", "adts"],
        MediaFormat.AAC,
        MediaType.AUDIO,
    ),
    "tone.flac": (["-f", "lavfi", "-i", "sine=d=1"], MediaFormat.FLAC, MediaType.AUDIO),
    "tone.ogg": (
        ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libvorbis"],
        MediaFormat.OGG,
        MediaType.AUDIO,
    ),
    "tone.opus": (
        ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libopus"],
        MediaFormat.OGG,
        MediaType.AUDIO,
    ),
    "tone.wav": (["-f", "lavfi", "-i", "sine=d=1"], MediaFormat.WAV, MediaType.AUDIO),
    "tone.m4a": (
        ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"],
        MediaFormat.MP4,
        MediaType.AUDIO,
    ),
    "clip.mp4": (
        ["-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "libx264", "-pix_fmt", "yuv420p"],
        MediaFormat.MP4,
        MediaType.VIDEO,
    ),
    "clip.mov": (
        ["-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "mpeg4"],
        MediaFormat.MP4,
        MediaType.VIDEO,
    ),
    "clip.mkv": (
        ["-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "libx264"],
        MediaFormat.MATROSKA,
        MediaType.VIDEO,
    ),
    "clip.webm": (
        ["-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "libvpx"],
        MediaFormat.MATROSKA,
        MediaType.VIDEO,
    ),
    "still.png": (
        ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
        MediaFormat.PNG,
        MediaType.IMAGE,
    ),
    "still.jpg": (
        ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
        MediaFormat.JPEG,
        MediaType.IMAGE,
    ),
    "still.gif": (
        ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
        MediaFormat.GIF,
        MediaType.IMAGE,
    ),
    "still.webp": (
        ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1", "-c:v", "libwebp"],
        MediaFormat.WEBP,
        MediaType.IMAGE,
    ),
}


@pytest.fixture(scope="module")
def made_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("ffmpeg-media")
    made: dict[str, Path] = {}
    for name, (args, _fmt, _type) in _FFMPEG_FILES.items():
        out = root / name
        subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args, str(out)],
            check=True,
            timeout=60,
        )
        made[name] = out
    cover = root / "cover.mp3"  # ID3 with an embedded picture: the tag outgrows the sniff
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(made["tone.mp3"]),
            "-i",
            str(made["still.png"]),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-id3v2_version",
            "3",
            str(cover),
        ],
        check=True,
        timeout=60,
    )
    made["cover.mp3"] = cover
    return made


@pytest.mark.parametrize("name", sorted(_FFMPEG_FILES))
def test_real_files_of_each_allowed_format_are_accepted_for_their_type(
    made_media: dict[str, Path], name: str
) -> None:
    _args, fmt, media_type = _FFMPEG_FILES[name]
    data = made_media[name].read_bytes()
    assert allowed(data) == fmt
    verdict = judge(data, media_type)
    assert verdict.accepted, verdict.problem
    assert verdict.format == fmt


def test_an_mp3_with_cover_art_is_accepted(made_media: dict[str, Path]) -> None:
    # The tag outgrows the first read: identification reads again behind it.
    data = made_media["cover.mp3"].read_bytes()
    assert len(data) > 4096 and data.startswith(b"ID3")
    assert judge(data, MediaType.AUDIO).format == MediaFormat.MP3


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        ("tone.mp3", MediaType.IMAGE),
        ("tone.mp3", MediaType.VIDEO),
        ("tone.wav", MediaType.VIDEO),
        ("still.png", MediaType.AUDIO),
        ("still.jpg", MediaType.VIDEO),
        ("clip.mp4", MediaType.IMAGE),
    ],
)
def test_a_format_that_does_not_fit_the_assets_type_is_refused(
    made_media: dict[str, Path], name: str, wrong: MediaType
) -> None:
    verdict = judge(made_media[name].read_bytes(), wrong)
    assert not verdict.accepted
    assert f"a {wrong} asset" in (verdict.problem or "")


@settings(max_examples=100, deadline=None)
@given(url_list=st.lists(urls, min_size=1, max_size=3))
def test_a_playlist_appended_to_nothing_but_an_id3_header_is_refused(url_list: list[str]) -> None:
    # A tag that ends inside what was read must be followed by audio frames.
    body = b"ID3\x03\x00\x00\x00\x00\x00\x00" + _m3u(url_list).encode()
    assert allowed(body) is None
