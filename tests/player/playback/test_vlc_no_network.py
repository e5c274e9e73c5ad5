"""Real libvlc never fetches what a playlist or manifest in the media cache points at."""

from __future__ import annotations

import http.server
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from player.adapters.vlc_output import HEADLESS_ARGS, VlcOutput
from player.core.model import Outcome
from player.errors import PlaybackError
from player.ports import MediaStarted
from player.runtime.playback import PlaybackLoop
from tests.fakes.clock import FakeClock
from tests.player.playback.fakes import BASE_AT, FakeSource, decision, write_tone


class _CountingServer:
    """A loopback HTTP server that counts every request it gets (and answers 404)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[_CountingServer]:
    srv = _CountingServer()
    yield srv
    srv.close()


def _hls(port: int) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n"
        f"#EXTINF:10,\nhttp://127.0.0.1:{port}/seg0.ts\n"
        f"#EXTINF:10,\nhttp://127.0.0.1:{port}/seg1.ts\n"
    ).encode()


def _dash(port: int) -> bytes:
    return (
        f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        f'mediaPresentationDuration="PT10S"><BaseURL>http://127.0.0.1:{port}/</BaseURL>'
        '<Period><AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="1">'
        '<SegmentList duration="10"><SegmentURL media="s1.m4s"/></SegmentList>'
        "</Representation></AdaptationSet></Period></MPD>"
    ).encode()


@pytest.mark.vlc
@pytest.mark.parametrize("kind", ["hls", "dash"])
def test_a_manifest_delivered_as_audio_is_never_fetched_nor_completed(
    server: _CountingServer, tmp_path: Path, kind: str
) -> None:
    body = _hls(server.port) if kind == "hls" else _dash(server.port)
    (tmp_path / "bad.bin").write_bytes(body)
    write_tone(tmp_path / "good.bin", 440.0, 300)
    source = FakeSource(lambda n, at: decision("bad" if n % 2 == 0 else "good"))
    output = VlcOutput(HEADLESS_ARGS)
    loop = PlaybackLoop(
        source,
        FakeClock(BASE_AT, real_time=True),
        output,
        lambda sha: tmp_path / f"{sha.removeprefix('sha-')}.bin",
    )
    loop.start()
    try:
        plays = source.wait_plays(3, timeout_s=15)
        time.sleep(1.0)  # room for a late fetch, had anything been handed over
    finally:
        loop.stop()
        output.close()
    assert server.requests == []
    bad = [p for p in plays if p.asset_id == "bad"]
    assert bad and all(p.outcome == Outcome.ERROR for p in bad)
    assert any(p.asset_id == "good" and p.outcome == Outcome.COMPLETED for p in plays)
    assert source.quarantined and source.quarantined[0].sha256 == "sha-bad"


@pytest.mark.vlc
def test_the_vlc_output_itself_refuses_what_is_not_allowed_media(
    server: _CountingServer, tmp_path: Path
) -> None:
    # The second guard: whatever calls prepare, a manifest never reaches libvlc.
    path = tmp_path / "bad.mp3"
    path.write_bytes(_hls(server.port))
    output = VlcOutput(HEADLESS_ARGS)
    try:
        with pytest.raises(PlaybackError, match="not an allowed media format"):
            output.prepare(path)
    finally:
        output.close()
    time.sleep(0.5)
    assert server.requests == []


_FFMPEG = {
    "tone.mp3": ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libmp3lame"],
    "tone.aac": ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", "-f", "adts"],
    "tone.flac": ["-f", "lavfi", "-i", "sine=d=1"],
    "tone.ogg": ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libvorbis"],
    "tone.wav": ["-f", "lavfi", "-i", "sine=d=1"],
    "tone.m4a": ["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"],
    "clip.mp4": [
        "-f",
        "lavfi",
        "-i",
        "testsrc=d=1:s=64x64",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
    ],
    "clip.webm": ["-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "libvpx"],
    "still.png": ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
    "still.jpg": ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
    "still.gif": ["-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"],
}


@pytest.mark.vlc
@pytest.mark.parametrize("name", sorted(_FFMPEG))
def test_each_allowed_format_plays_with_its_pinned_demuxer(tmp_path: Path, name: str) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path / name
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *_FFMPEG[name], str(path)],
        check=True,
        timeout=60,
    )
    output = VlcOutput(HEADLESS_ARGS)
    events: queue.Queue[object] = queue.Queue()
    output.attach(events)
    try:
        token = output.prepare(path)
        if not name.startswith("still") and name != "tone.aac":  # ADTS: no length, pinned or not
            assert output.length_ms(token) is not None
        output.start(token)
        first = events.get(timeout=5)
        assert first == MediaStarted(token), first
    finally:
        output.close()
