"""What an upload really is: the allow-list of control_api.core.media_content,
on real files made by ffmpeg and through LocalMediaStore.inspect (ffprobe)."""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_api.core import media_content as mc
from control_api.media import LocalMediaStore, MediaRefused, ReceivedMedia
from tests.control_api.media_samples import ffmpeg_file, mp3, mp4, png, wav

pytestmark = pytest.mark.skipif(
    shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None,
    reason="ffmpeg not installed (apt: ffmpeg)",
)

TONE = ("-f", "lavfi", "-i", "sine=d=0.3")
PICTURE = ("-f", "lavfi", "-i", "color=c=blue:s=8x8", "-frames:v", "1")
CLIP = ("-f", "lavfi", "-i", "color=c=red:s=16x16:d=0.3")

# (suffix, ffmpeg arguments, media type it is, format key)
REAL = [
    (".mp3", TONE, "audio", "mp3"),
    (".aac", (*TONE, "-c:a", "aac"), "audio", "aac"),
    (".m4a", (*TONE, "-c:a", "aac"), "audio", "mp4"),
    (".flac", TONE, "audio", "flac"),
    (".ogg", (*TONE, "-c:a", "libvorbis"), "audio", "ogg"),
    (".opus", (*TONE, "-c:a", "libopus"), "audio", "ogg"),
    (".wav", TONE, "audio", "wav"),
    (".mka", (*TONE, "-c:a", "flac"), "audio", "matroska"),
    (".mp4", (*CLIP, "-c:v", "mpeg4"), "video", "mp4"),
    (".mov", (*CLIP, "-c:v", "mpeg4"), "video", "mp4"),
    (".webm", (*CLIP, "-c:v", "libvpx"), "video", "matroska"),
    (".mkv", (*CLIP, "-c:v", "mpeg4"), "video", "matroska"),
    (".png", PICTURE, "image", "png"),
    (".jpg", PICTURE, "image", "jpeg"),
    (".gif", PICTURE, "image", "gif"),
    (".webp", PICTURE, "image", "webp"),
]


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


def inspect(store: LocalMediaStore, data: bytes, media_type: str) -> int | None:
    path = store.root / "upload.part"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return store.inspect(ReceivedMedia("0" * 64, len(data), path), media_type)


def head_reader(data: bytes) -> mc.ReadAt:
    return lambda offset, size: data[offset : offset + size]


@pytest.mark.parametrize(("suffix", "args", "media_type", "key"), REAL, ids=[r[0] for r in REAL])
def test_every_allowed_format_is_accepted_as_its_type_only(
    store: LocalMediaStore, suffix: str, args: tuple[str, ...], media_type: str, key: str
) -> None:
    data = ffmpeg_file(suffix, *args)
    found = mc.identify(head_reader(data), len(data))
    assert isinstance(found, mc.MediaFormat) and found.key == key
    duration_ms = inspect(store, data, media_type)
    if media_type == "image":
        assert duration_ms is None
    else:
        assert duration_ms is not None and 250 <= duration_ms <= 400
    for other in ("audio", "video", "image"):
        if other != media_type:
            with pytest.raises(MediaRefused, match=f"not {other}; {other} must be"):
                inspect(store, data, other)


def test_test_samples_are_real_media(store: LocalMediaStore) -> None:
    assert inspect(store, wav(b"song"), "audio") == 100
    assert inspect(store, mp3(b"alarm"), "audio") is not None
    assert inspect(store, mp4(b"clip"), "video") == 200
    assert inspect(store, png(b"img"), "image") is None


PLAYLISTS = {
    b"#EXTM3U\n#EXTINF:10,x\nhttp://10.1.2.3/a.mp3\n": "an M3U playlist",
    b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://h/a.ts\n": "an HLS playlist",
    b"[playlist]\nFile1=http://10.0.0.1/\nNumberOfEntries=1\n": "a PLS playlist",
    b'<?xml version="1.0"?><playlist xmlns="http://xspf.org/ns/0/"><trackList/></playlist>': (
        "an XSPF playlist"
    ),
    b'<ASX version="3.0"><Entry><Ref href="http://x/"/></Entry></ASX>': "an ASX playlist",
    b"<smil><body><audio src='http://x/a.mp3'/></body></smil>": "a SMIL document",
    b"v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=x\r\nm=audio 5004 RTP/AVP 0\r\n": (
        "an SDP session description"
    ),
    b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>': (
        "a DASH manifest (MPD)"
    ),
    b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://x/"/></svg>': "an SVG image",
    b"<!DOCTYPE html><html><body></body></html>": "an HTML document",
    b"ffconcat version 1.0\nfile 'http://10.0.0.1/a.mp3'\n": "an ffmpeg concat list",
    b"file 'a.mp3'\nfile 'b.mp3'\n": "an ffmpeg concat list",
    b"http://10.0.0.1/stream.mp3\n": "text with URLs",
    b"\xef\xbb\xbf#EXTM3U\nhttp://10.0.0.1/\n": "an M3U playlist",
    "\ufeff#EXTM3U\nhttp://10.0.0.1/\n".encode("utf-16-le"): "an M3U playlist",
    b"%PDF-1.4\n": "a PDF document",
}


@pytest.mark.parametrize(("data", "found"), list(PLAYLISTS.items()))
def test_text_is_refused_and_named(store: LocalMediaStore, data: bytes, found: str) -> None:
    assert mc.identify(head_reader(data), len(data)) == mc.Refusal(found)
    with pytest.raises(MediaRefused, match=re.escape(f"the upload is {found}, not audio")):
        inspect(store, data, "audio")


def test_a_playlist_behind_an_id3_tag_is_still_a_playlist(store: LocalMediaStore) -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\x00" * 16
    found = re.escape("an HLS playlist (after an ID3 tag), not audio")
    with pytest.raises(MediaRefused, match=found):
        inspect(store, tag + b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://10.0.0.1/a.ts\n", "audio")


@pytest.mark.parametrize("cut", [12, 16, 30, 44])
def test_a_real_header_in_front_of_a_playlist_is_refused(store: LocalMediaStore, cut: int) -> None:
    for data in (ffmpeg_file(".wav", *TONE), ffmpeg_file(".png", *PICTURE), mp4()):
        with pytest.raises(MediaRefused):
            inspect(store, data[:cut] + b"#EXTM3U\nhttp://10.0.0.1/a.mp3\n", "audio")


def _with_moov_child(data: bytes, box: bytes) -> bytes:
    """``data`` (moov last, as ffmpeg writes it) with ``box`` appended inside moov."""
    at = data.rindex(b"moov") - 4
    size = struct.unpack(">I", data[at : at + 4])[0]
    assert at + size == len(data), "moov must be the last box"
    return data[:at] + struct.pack(">I", size + len(box)) + data[at + 4 :] + box


def test_mp4_references_to_other_files_or_urls_are_refused(store: LocalMediaStore) -> None:
    data = mp4()[:-8]  # without the trailing empty "free" box: moov is last
    url = b"http://10.0.0.1/movie.mov\x00"
    rdrf = (
        struct.pack(">I", 20 + len(url))
        + b"rdrf"
        + b"\x00" * 4
        + b"url "
        + struct.pack(">I", len(url))
        + url
    )
    rmda = struct.pack(">I", 8 + len(rdrf)) + b"rmda" + rdrf
    rmra = struct.pack(">I", 8 + len(rmda)) + b"rmra" + rmda
    with pytest.raises(MediaRefused, match="reference movie"):
        inspect(store, _with_moov_child(data, rmra), "video")
    # A data reference entry without the self-contained flag.
    entry = data.index(b"url ", data.index(b"dref"))
    external = data[: entry + 5] + b"\x00\x00\x00" + data[entry + 8 :]
    assert inspect(store, data, "video") == 200
    found = re.escape("data reference ('url ') to another file or URL")
    with pytest.raises(MediaRefused, match=found):
        inspect(store, external, "video")


def test_content_types_are_an_allow_list_of_concrete_subtypes() -> None:
    assert mc.media_type_of("audio/mpeg") == "audio"
    assert mc.media_type_of("video/mp4") == "video"
    assert mc.media_type_of("image/webp") == "image"
    for refused in (
        "image/svg+xml",
        "image/*",
        "audio/*",
        "audio/x-mpegurl",
        "video/mp2t",
        "application/vnd.apple.mpegurl",
        "audio/",
        "audio",
        "text/html",
        "",
    ):
        assert mc.media_type_of(refused) is None, refused


def test_quota_rule() -> None:
    assert mc.quota_refusal(90, 10, 100) is None
    assert mc.quota_refusal(10**12, 10**12, 0) is None
    message = mc.quota_refusal(90, 11, 100)
    assert message is not None and "90 used" in message and "quota of 100 bytes" in message


BOMS = st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"])
URLS = st.builds(
    "{}://{}.{}/{}".format,
    st.sampled_from(["http", "https", "rtsp", "udp", "file", "smb", "ftp"]),
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    st.sampled_from(["local", "lan", "10.0.0.1", "example"]),
    st.from_regex(r"[A-Za-z0-9_./%-]{0,40}", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(
    bom=BOMS,
    lead=st.sampled_from(["", " ", "\n", "\r\n\t "]),
    header=st.sampled_from(
        [
            "#EXTM3U",
            "#extm3u",
            "[playlist]",
            "<?xml version='1.0'?>",
            "<asx>",
            "<smil>",
            "<svg>",
            "v=0",
            "ffconcat version 1.0",
            "",
        ]
    ),
    urls=st.lists(URLS, min_size=1, max_size=5),
)
def test_no_text_is_ever_an_allowed_format(
    bom: bytes, lead: str, header: str, urls: list[str]
) -> None:
    text = lead + header + "\n" + "\n".join(urls) + "\n"
    encoding = {
        b"\xff\xfe": "utf-16-le",
        b"\xfe\xff": "utf-16-be",
        b"\xff\xfe\x00\x00": "utf-32-le",
    }.get(bom, "utf-8")
    data = bom + text.encode(encoding)
    assert isinstance(mc.identify(head_reader(data), len(data)), mc.Refusal)
