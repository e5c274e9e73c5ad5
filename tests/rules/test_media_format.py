"""One allow-list for both sides: the API's table and identification are the shared ones,
and the player's judge accepts exactly what the API's identification accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_api.core import media_content as mc
from lomuz_rules import media_format as rules
from lomuz_rules.model import MediaType
from player.core.media_format import judge
from tests.control_api.media_samples import mp3, mp4, png, wav

SAMPLES = {"wav": wav(b"song"), "mp3": mp3(b"alarm"), "mp4": mp4(b"clip"), "png": png(b"img")}


def test_the_api_table_is_the_shared_table() -> None:
    assert list(mc.FORMATS) == [fmt.value for fmt in rules.FORMATS]
    for fmt, spec in rules.FORMATS.items():
        api = mc.FORMATS[fmt.value]
        assert (api.key, api.label) == (fmt.value, spec.label)
        assert api.media_types == {t.value for t in spec.media_types}
    assert mc.Refusal is rules.Refusal
    assert mc.describe_text is rules.describe_text


def test_refusal_messages_name_the_allowed_formats_of_the_type() -> None:
    assert rules.Refusal("an HLS playlist").message("image") == (
        "the upload is an HLS playlist, not image; image must be PNG, JPEG, GIF or WebP"
    )
    assert (
        rules.Refusal("not MP3", "a broken ID3v2 header")
        .message("audio")
        .startswith(
            "the upload is not MP3 (a broken ID3v2 header), not audio; audio must be MP3, "
            "AAC (ADTS), FLAC, Ogg (Vorbis, Opus, FLAC, Theora), WAV, MP4/M4A/MOV or Matroska/WebM"
        )
    )


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_both_sides_identify_the_test_samples_alike(key: str) -> None:
    data = SAMPLES[key]
    api = mc.identify(rules.bytes_reader(data), len(data))
    assert isinstance(api, mc.MediaFormat) and api.key == key
    media_type = next(iter(sorted(rules.FORMATS[rules.MediaFormat(key)].media_types)))
    verdict = judge(rules.bytes_reader(data), media_type)
    assert verdict.accepted and verdict.format == key


@pytest.mark.parametrize("magic", [b"GIF89a", b"RIFF1234WAVEfmt ", b"\xef\xbb\xbfGIF87a"])
def test_text_behind_a_signature_is_refused_by_the_api_too(magic: bytes) -> None:
    # The text rule, the player's before it was shared: the API used to call
    # "GIF89a" followed by a playlist GIF and leave it to ffprobe.
    data = magic + b" #EXTM3U\nhttp://10.0.0.1/a.mp3\n"
    found = mc.identify(rules.bytes_reader(data), len(data))
    assert isinstance(found, rules.Refusal)
    assert not judge(rules.bytes_reader(data), MediaType.IMAGE).accepted


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"ID3\x03\x00\x00\x00\x00\x00\x00", *SAMPLES.values()]),
    cut=st.integers(0, 64),
    tail=st.binary(max_size=200),
    media_type=st.sampled_from(list(MediaType)),
)
def test_the_player_accepts_what_the_api_accepts(
    prefix: bytes, cut: int, tail: bytes, media_type: MediaType
) -> None:
    data = prefix[: len(prefix) - cut] + tail
    api = mc.identify(rules.bytes_reader(data), len(data))
    api_accepts = isinstance(api, mc.MediaFormat) and mc.check_declared(api, media_type) is None
    verdict = judge(rules.bytes_reader(data), media_type)
    wav_size_refusal = (
        isinstance(api, rules.Refusal)
        and "WAV" in api.found
        and (verdict.format is rules.MediaFormat.WAV)
    )
    if not wav_size_refusal:  # the API's WAV size check is its own (it knows the size)
        assert verdict.accepted == api_accepts, (api, verdict)
