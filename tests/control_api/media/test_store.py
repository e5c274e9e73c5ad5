"""LocalMediaStore with real files: streaming, limits, truncation, atomic commit."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import threading
import time
import wave
from pathlib import Path

import pytest

from control_api.media import (
    CHUNK_SIZE_BYTES,
    InvalidMediaName,
    LocalMediaStore,
    MediaCheckBusy,
    MediaRefused,
    MediaTooLarge,
    MediaTruncated,
    ReceivedMedia,
    Swept,
)


class CountingStream(io.RawIOBase):
    """Yields ``size_bytes`` of generated data without holding it; records read sizes."""

    def __init__(self, size_bytes: int, fail_after_bytes: int | None = None) -> None:
        self.remaining = size_bytes
        self.sent = 0
        self.reads: list[int] = []
        self.fail_after_bytes = fail_after_bytes
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        if self.fail_after_bytes is not None and self.sent >= self.fail_after_bytes:
            raise ConnectionResetError("client went away")
        n = self.remaining if size < 0 else min(size, self.remaining)
        data = bytes((self.sent + i) % 251 for i in range(n))
        self.remaining -= n
        self.sent += n
        self.hasher.update(data)
        return data


class ExplodingStream(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("must not be read")


def temp_files(store: LocalMediaStore) -> list[Path]:
    return sorted(store.tmp_dir.iterdir()) if store.tmp_dir.exists() else []


def stored_files(store: LocalMediaStore) -> list[Path]:
    root = store.root / "sha256"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


def test_receive_then_commit_stores_by_hash(store: LocalMediaStore) -> None:
    data = os.urandom(200_000)
    received = store.receive(io.BytesIO(data), limit_bytes=1_000_000, content_length=len(data))
    digest = hashlib.sha256(data).hexdigest()
    assert received.sha256 == digest
    assert received.size_bytes == len(data)
    assert received.temp_path.parent == store.tmp_dir
    assert not store.exists(digest)  # not visible before commit

    store.commit(received)

    final = store.root / "sha256" / digest[:2] / digest
    assert store.path_for(digest) == final
    assert final.read_bytes() == data
    assert store.exists(digest)
    assert temp_files(store) == []


def test_streams_in_bounded_chunks(store: LocalMediaStore) -> None:
    size = 5 * 1024 * 1024 + 7
    stream = CountingStream(size)
    received = store.receive(stream, limit_bytes=10 * 1024 * 1024, content_length=size)
    assert received.size_bytes == size
    assert received.sha256 == stream.hasher.hexdigest()
    assert max(stream.reads) <= CHUNK_SIZE_BYTES
    assert all(r > 0 for r in stream.reads)  # never read(-1): that would load it all
    store.discard(received)


def test_never_reads_past_content_length(store: LocalMediaStore) -> None:
    stream = CountingStream(1000)
    received = store.receive(stream, limit_bytes=10_000, content_length=600)
    assert received.size_bytes == 600
    assert stream.sent == 600
    store.discard(received)
    assert temp_files(store) == []


def test_content_length_over_limit_is_refused_before_reading(store: LocalMediaStore) -> None:
    with pytest.raises(MediaTooLarge) as info:
        store.receive(ExplodingStream(), limit_bytes=100, content_length=101)
    assert info.value.limit_bytes == 100
    assert "100 bytes" in str(info.value)
    assert temp_files(store) == []


def test_body_over_limit_without_content_length(store: LocalMediaStore) -> None:
    stream = CountingStream(1_000_000)
    with pytest.raises(MediaTooLarge):
        store.receive(stream, limit_bytes=300_000, content_length=None)
    assert stream.sent <= 300_000 + CHUNK_SIZE_BYTES  # stopped soon after the limit
    assert temp_files(store) == []
    assert stored_files(store) == []


def test_exactly_the_limit_is_accepted(store: LocalMediaStore) -> None:
    data = b"z" * 4096
    for content_length in (None, 4096):
        received = store.receive(io.BytesIO(data), limit_bytes=4096, content_length=content_length)
        assert received.size_bytes == 4096
        store.discard(received)


def test_truncated_body(store: LocalMediaStore) -> None:
    with pytest.raises(MediaTruncated) as info:
        store.receive(io.BytesIO(b"x" * 10), limit_bytes=1000, content_length=50)
    assert (info.value.expected_bytes, info.value.received_bytes) == (50, 10)
    assert "expected 50 bytes, got 10" in str(info.value)
    assert temp_files(store) == []


def test_client_disconnect_mid_body_removes_the_temp_file(store: LocalMediaStore) -> None:
    stream = CountingStream(1_000_000, fail_after_bytes=200_000)
    with pytest.raises(MediaTruncated):
        store.receive(stream, limit_bytes=2_000_000, content_length=1_000_000)
    assert temp_files(store) == []


def test_empty_upload(store: LocalMediaStore) -> None:
    received = store.receive(io.BytesIO(b""), limit_bytes=10, content_length=0)
    assert received.sha256 == hashlib.sha256(b"").hexdigest()
    store.commit(received)
    assert store.path_for(received.sha256).read_bytes() == b""


def test_bad_arguments_change_nothing(store: LocalMediaStore) -> None:
    with pytest.raises(ValueError, match="content_length"):
        store.receive(io.BytesIO(b"x"), limit_bytes=10, content_length=-1)
    with pytest.raises(ValueError, match="limit_bytes"):
        store.receive(io.BytesIO(b"x"), limit_bytes=-1, content_length=None)
    assert temp_files(store) == []


def test_commit_is_idempotent(store: LocalMediaStore) -> None:
    data = b"same bytes" * 1000
    first = store.receive(io.BytesIO(data), 1_000_000, len(data))
    second = store.receive(io.BytesIO(data), 1_000_000, len(data))
    assert first.temp_path != second.temp_path
    store.commit(first)
    store.commit(second)
    store.commit(first)  # temp already gone: still fine
    assert len(stored_files(store)) == 1
    assert store.path_for(first.sha256).read_bytes() == data
    assert temp_files(store) == []


def test_concurrent_identical_uploads(store: LocalMediaStore) -> None:
    data = os.urandom(300_000)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def upload() -> None:
        try:
            received = store.receive(io.BytesIO(data), 1_000_000, len(data))
            barrier.wait(timeout=10)
            store.commit(received)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    digest = hashlib.sha256(data).hexdigest()
    assert stored_files(store) == [store.path_for(digest)]
    assert store.path_for(digest).read_bytes() == data
    assert temp_files(store) == []


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "A" * 64,  # uppercase
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "g" * 64,
        "",
        "/" + "a" * 63,
        "..",
    ],
)
def test_names_from_outside_never_become_paths(store: LocalMediaStore, name: str) -> None:
    with pytest.raises(InvalidMediaName):
        store.path_for(name)
    with pytest.raises(ValueError, match="sha256"):
        store.path_for(name)
    assert store.exists(name) is False


def test_discard_is_quiet_when_gone(store: LocalMediaStore, tmp_path: Path) -> None:
    store.discard(ReceivedMedia("a" * 64, 0, tmp_path / "nothing.part"))


def test_cleanup_stale_temp(store: LocalMediaStore) -> None:
    store.tmp_dir.mkdir(parents=True)
    old = store.tmp_dir / "upload-old.part"
    fresh = store.tmp_dir / "upload-fresh.part"
    foreign = store.tmp_dir / "keep-me.txt"
    for p in (old, fresh, foreign):
        p.write_bytes(b"xyz")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(foreign, (an_hour_ago, an_hour_ago))

    assert store.cleanup_stale_temp(older_than_s=600) == Swept(files=1, bytes_freed=3)
    assert not old.exists()
    assert fresh.exists()
    assert foreign.exists()


def test_cleanup_without_tmp_dir(store: LocalMediaStore) -> None:
    assert store.cleanup_stale_temp(older_than_s=0) == Swept()


def test_stored_and_remove(store: LocalMediaStore) -> None:
    received = store.receive(io.BytesIO(b"stored bytes"), 100, None)
    store.commit(received)
    (store.root / "sha256" / "zz").mkdir()
    (store.root / "sha256" / "zz" / "not-a-hash").write_bytes(b"left alone")
    assert store.stored() == [(received.sha256, 12)]
    assert store.remove(received.sha256) == 12
    assert store.remove(received.sha256) == 0
    assert store.stored() == []
    assert (store.root / "sha256" / "zz" / "not-a-hash").exists()


def _write_wav(path: Path, seconds: float) -> None:
    rate = 8000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))


def _received(path: Path) -> ReceivedMedia:
    return ReceivedMedia("0" * 64, path.stat().st_size, path)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed (apt: ffmpeg)")
def test_inspect_gives_the_duration_with_ffprobe(store: LocalMediaStore, tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    _write_wav(wav, 1.5)
    assert store.inspect(_received(wav), "audio") == 1500
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not media at all")
    with pytest.raises(MediaRefused, match="the upload is text, not audio"):
        store.inspect(_received(junk), "audio")


def test_inspect_without_ffprobe_checks_the_leading_bytes_only(
    store: LocalMediaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wav = tmp_path / "tone.wav"
    _write_wav(wav, 0.5)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert store.inspect(_received(wav), "audio") is None
    playlist = tmp_path / "list.m3u8"
    playlist.write_bytes(b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://10.0.0.1/a.ts\n")
    with pytest.raises(MediaRefused, match="an HLS playlist, not audio"):
        store.inspect(_received(playlist), "audio")


def test_a_media_check_that_takes_too_long_asks_for_a_retry_not_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A valid file whose check overran (a busy server, as once in CI) is not "invalid".
    wav = tmp_path / "tone.wav"
    _write_wav(wav, 0.5)
    slow_bin = tmp_path / "slow-bin"
    slow_bin.mkdir()
    fake = slow_bin / "ffprobe"
    fake.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(slow_bin))
    store = LocalMediaStore(tmp_path / "media", probe_timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(MediaCheckBusy, match=r"did not finish within 0\.2 s"):
        store.inspect(_received(wav), "audio")
    assert time.monotonic() - started < 3
