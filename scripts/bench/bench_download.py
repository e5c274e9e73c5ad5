"""Download benchmark: Fetcher (hash on the fly + verify + fsync + rename) vs a plain copy.

Starts a loopback server in a child process that generates the file on the fly
(a repeated 1 MiB pseudo-random block, Range supported), then in this process:

1. a plain streaming copy (httpx stream -> file, same chunk size, fsync), timed;
2. ``Fetcher.fetch`` of the same bytes into a fresh MediaCache, timed, while a
   sampler thread records this process's RSS every 5 ms.

Prints throughput of both, their ratio (target >= 0.9) and peak RSS growth over
idle during the fetch (target < 10 MB). Bounded: one download of each, then exit.

    .venv/bin/python scripts/bench/bench_download.py --size-mb 1024
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil

BLOCK = hashlib.shake_256(b"lomuz-bench").digest(1024 * 1024)


def serve(size_bytes: int) -> None:
    """Child process: serve /file (size_bytes long) until stdin closes."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            start = 0
            rng = self.headers.get("Range", "")
            status = 200
            if rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(size_bytes - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{size_bytes - 1}/{size_bytes}")
            self.end_headers()
            pos = start
            view = memoryview(BLOCK)
            try:
                while pos < size_bytes:
                    offset = pos % len(BLOCK)
                    n = min(len(BLOCK) - offset, size_bytes - pos)
                    self.wfile.write(view[offset : offset + n])
                    pos += n
            except (BrokenPipeError, ConnectionResetError):
                return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # parent closes stdin to stop us
    server.shutdown()
    server.server_close()


def expected_sha256(size_bytes: int) -> str:
    digest = hashlib.sha256()
    full, rest = divmod(size_bytes, len(BLOCK))
    for _ in range(full):
        digest.update(BLOCK)
    digest.update(BLOCK[:rest])
    return digest.hexdigest()


def plain_copy(client: httpx.Client, url: str, dest: Path, chunk_bytes: int) -> float:
    started = time.monotonic()
    with client.stream("GET", url) as response, dest.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes(chunk_bytes):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return

    from player.adapters.fetcher import DEFAULT_CHUNK_BYTES, Fetcher
    from player.adapters.media_cache import MediaCache

    size = args.size_mb * 1024 * 1024
    sha = expected_sha256(size)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        url = f"http://127.0.0.1:{port}/file"
        with (
            tempfile.TemporaryDirectory(prefix="bench-download-") as tmp,
            httpx.Client(timeout=30.0) as client,
        ):
            tmp_path = Path(tmp)
            plain_s = plain_copy(client, url, tmp_path / "plain.bin", DEFAULT_CHUNK_BYTES)
            (tmp_path / "plain.bin").unlink()

            process = psutil.Process()
            idle_rss = process.memory_info().rss
            peak_rss = idle_rss
            done = threading.Event()

            def sample() -> None:
                nonlocal peak_rss
                while not done.is_set():
                    peak_rss = max(peak_rss, process.memory_info().rss)
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            fetcher = Fetcher(client, MediaCache(tmp_path / "media"))
            started = time.monotonic()
            result = fetcher.fetch(url, sha, size)
            fetch_s = time.monotonic() - started
            done.set()
            sampler.join()
            assert result.path.stat().st_size == size
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)

    mib = size / (1024 * 1024)
    print(
        f"size: {mib:.0f} MiB, chunk: {DEFAULT_CHUNK_BYTES // 1024} KiB, "
        f"machine: {os.uname().machine}, cores: {os.cpu_count()}"
    )
    print(f"plain streaming copy (write+fsync): {plain_s:6.2f} s  {mib / plain_s:7.1f} MiB/s")
    print(f"Fetcher (sha256+verify+fsync+rename): {fetch_s:6.2f} s  {mib / fetch_s:7.1f} MiB/s")
    print(f"ratio fetcher/plain: {plain_s / fetch_s:.2f} (target >= 0.90)")
    print(
        f"RSS idle {idle_rss / 1e6:.1f} MB, peak during fetch {peak_rss / 1e6:.1f} MB, "
        f"growth {(peak_rss - idle_rss) / 1e6:.2f} MB (target < 10 MB)"
    )


if __name__ == "__main__":
    main()
