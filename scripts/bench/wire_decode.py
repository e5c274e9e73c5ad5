"""Benchmark: decode a large full manifest (player.wire.decode_manifest).

Usage: .venv/bin/python scripts/bench/wire_decode.py [--assets N] [--repeat R]
Prints the manifest size, the best/median decode time of R runs, and the peak
memory of one decode: tracemalloc's peak of Python allocations during the call
(the input bytes excluded), and the RSS high-water mark a fresh process reaches
decoding the same bytes minus its RSS just before (``peak_rss_mb``).
``--collector`` separates the decoder's gain from pausing the garbage collector.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

from player.wire import decode_manifest


def build(assets: int, per_playlist: int = 100) -> bytes:
    doc: dict[str, object] = {
        "schema": 1,
        "cursor": "r1",
        "full": True,
        "server_time": "2026-12-01T09:00:00Z",
        "sync_interval_s": 600,
        "device": {"id": "d", "name": "bench", "timezone": "Europe/Paris", "groups": ["g"]},
    }
    doc["assets"] = [
        {
            "id": f"a{i}",
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "size": 1000 + i,
            "media_type": "audio",
            "content_type": "audio/mpeg",
            "title": f"Song {i}",
            "duration_ms": 180000,
            "valid_from": "2026-01-01T00:00:00Z" if i % 3 == 0 else None,
            "valid_until": None,
            "emergency": i % 1000 == 0,
            "url": f"/v1/media/{i}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for i in range(assets)
    ]
    playlists = max(1, assets // per_playlist)
    doc["playlists"] = [
        {
            "id": f"p{p}",
            "name": f"P{p}",
            "version": 1,
            "items": [
                {"asset_id": f"a{p * per_playlist + j}", "duration_ms": None}
                for j in range(min(per_playlist, assets))
            ],
        }
        for p in range(playlists)
    ]
    doc["schedules"] = [
        {
            "id": f"s{p}",
            "playlist_id": f"p{p}",
            "target": "group",
            "priority": p % 5,
            "days": [1, 2, 3, 4, 5],
            "start_time": "08:00",
            "end_time": "20:00",
            "valid_from": None,
            "valid_until": None,
            "created_at": "2026-01-01T00:00:00Z",
            "version": 1,
        }
        for p in range(playlists)
    ]
    doc["deleted"] = {"assets": [], "playlists": [], "schedules": []}
    return json.dumps(doc).encode()


# -P: the child imports player from PYTHONPATH, not from the current directory.
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark over into
# ru_maxrss across fork+exec, VmHWM belongs to the new process image alone.
_RSS_CHILD = """
import sys
from pathlib import Path
from player.wire import decode_manifest


def kib(field):
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise LookupError(field)


raw = Path(sys.argv[1]).read_bytes()
before_kib = kib('VmRSS')
manifest = decode_manifest(raw)
print(kib('VmHWM') - before_kib)
"""


def peak_rss_mb(raw: bytes) -> float:
    """RSS high-water of a fresh process decoding ``raw``, above its RSS just before."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(raw)
        f.flush()
        out = subprocess.run(
            [sys.executable, "-P", "-c", _RSS_CHILD, f.name],
            check=True,
            capture_output=True,
            text=True,
        )
    return int(out.stdout) / 1024


def peak_traced_mb(raw: bytes) -> float:
    tracemalloc.start()
    decode_manifest(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--collector",
        choices=("decoder", "paused", "running"),
        default="decoder",
        help="the cyclic GC during the timed decodes: as the decoder leaves it (default), "
        "paused by this script around each call, or kept running (the decoder's own "
        "pause, where it has one, disabled)",
    )
    args = parser.parse_args()
    raw = build(args.assets)
    if args.collector == "running":
        import player.wire.manifest

        player.wire.manifest.collector_paused = contextlib.nullcontext  # type: ignore[assignment]
    times = []
    for _ in range(args.repeat):
        if args.collector == "paused":
            gc.disable()
        t0 = time.perf_counter()
        manifest = decode_manifest(raw)
        times.append(time.perf_counter() - t0)
        gc.enable()
    print(
        f"assets={len(manifest.assets)} playlists={len(manifest.playlists)} "
        f"schedules={len(manifest.schedules)} bytes={len(raw)} "
        f"best_s={min(times):.3f} median_s={statistics.median(times):.3f} "
        f"peak_traced_mb={peak_traced_mb(raw):.1f} peak_rss_mb={peak_rss_mb(raw):.1f}"
    )


if __name__ == "__main__":
    main()
