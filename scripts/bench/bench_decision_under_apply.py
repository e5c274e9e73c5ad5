"""Playback's "decide + mark started" step while the syncer applies big full manifests.

Usage: .venv/bin/python scripts/bench/bench_decision_under_apply.py [--assets 100000]
       [--steps 3000] [--applies 3] [--interval-ms 0] [--syncer-in thread|process]

One SQLite file in a temp dir, opened as the daemon opens it (``PlayerStore``).
The catalogue of ``bench_decision.py`` (20 schedules and playlists, 10
emergency assets, 5 % expired, Europe/Berlin) is served as wire JSON by a
fake manifest source to the real ``Syncer``, which decodes and applies it
(``CatalogueStore.apply_manifest``, one write transaction). The playback
thread's sequence is that of ``player.runtime.playback`` through the
composition root's ``StoreSource``: ``decide(now)``, then ``mark_started`` of
the chosen item. Two phases: "idle" (nothing else runs), then "under apply"
(another thread runs ``sync_once`` with a full manifest ``--applies`` times
while the step loops). Prints p50/p99/max of the step (and of its two
halves) per phase, for the steps that overlapped ``apply_manifest`` (its
write transaction) and those that overlapped the fetch and decode, the sync
and apply times, the worst steps, and the longest runs of the cyclic garbage
collector with the thread that ran them (they hold the GIL).

``--syncer-in process`` applies from a second process on the same file: the
same SQLite locking without a GIL shared with playback, to tell the two
apart. Every start kept in memory while the lock is busy is one more row
each decision weighs, so back-to-back steps (``--interval-ms 0``) are a
pessimistic case: real playback starts an item every few minutes.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from lomuz_rules.model import Tier
from player.composition import StoreSource
from player.core.clock import ServerTime
from player.core.model import Manifest

try:
    from player.interpreter import tune_for_playback
except ImportError:  # an older checkout: --interpreter untuned
    tune_for_playback = None  # type: ignore[assignment]
try:
    from player.core.model import ItemStart
except ImportError:  # run with PYTHONPATH on an older checkout
    ItemStart = None  # type: ignore[assignment,misc]
from player.runtime.syncer import Syncer
from player.store import PlayerStore
from player.store.catalogue import ApplyResult, CatalogueStore
from player.store.tables import to_micros
from player.wire.replies import ManifestFetch

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
N_PLAYLISTS = 20


def wire_manifest(n_assets: int) -> bytes:
    """``bench_decision.build_manifest``'s catalogue as the API sends it."""
    rng = random.Random(42)

    def instant(at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    assets = []
    for i in range(n_assets):
        digest = hashlib.sha256(f"asset{i}".encode()).hexdigest()
        expired = rng.random() < 0.05
        assets.append(
            {
                "id": f"a{i:06d}",
                "sha256": digest,
                "size": 4_000_000,
                "media_type": "audio",
                "content_type": "audio/mpeg",
                "title": f"Track {i}",
                "duration_ms": 200_000,
                "valid_from": None,
                "valid_until": instant(T0 - timedelta(days=1)) if expired else None,
                "emergency": i < 10,
                "url": f"/v1/media/{digest}",
            }
        )
    playlists = [
        {
            "id": f"p{p}",
            "name": f"Playlist {p}",
            "version": 1,
            "items": [{"asset_id": a["id"], "duration_ms": None} for a in assets[p::N_PLAYLISTS]],
        }
        for p in range(N_PLAYLISTS)
    ]
    targets = ("device", "group", "all")
    schedules = []
    for p in range(N_PLAYLISTS):
        start = (p * 70) % 1440
        end = ((p * 70) + 600) % 1440 or 1440
        schedules.append(
            {
                "id": f"s{p}",
                "playlist_id": f"p{p}",
                "target": targets[p % 3],
                "priority": p % 4,
                "days": [1, 2, 3, 4, 5, 6, 7],
                "start_time": f"{start // 60:02d}:{start % 60:02d}",
                "end_time": "24:00" if end == 1440 else f"{end // 60:02d}:{end % 60:02d}",
                "valid_from": None,
                "valid_until": None,
                "created_at": instant(T0 - timedelta(days=p)),
                "version": 1,
            }
        )
    doc = {
        "schema": 1,
        "cursor": "bench",
        "full": True,
        "server_time": instant(T0),
        "sync_interval_s": 600,
        "device": {"id": "dev", "name": "Bench", "timezone": "Europe/Berlin", "groups": []},
        "assets": assets,
        "playlists": playlists,
        "schedules": schedules,
        "deleted": {"assets": [], "playlists": [], "schedules": []},
    }
    return json.dumps(doc).encode()


class FullManifestSource:
    """Always answers with the same full manifest (the API after a reset)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def fetch_manifest(self, since: str | None, *, fresh: bool = False) -> ManifestFetch:
        now = time.monotonic()
        return ManifestFetch(
            not_modified=False,
            body=self._body,
            cursor="bench",
            server_date=None,
            sent_monotonic_s=now,
            received_monotonic_s=now,
            received_at=datetime.now(UTC),
        )


class BenchClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def observe_server_time(self, server: ServerTime) -> None:
        return None


class NoRetry:
    def call(self, fn):  # type: ignore[no-untyped-def]
        return fn()


class TimedCatalogue:
    """The real catalogue, with the span of each ``apply_manifest`` recorded."""

    def __init__(self, catalogue: CatalogueStore) -> None:
        self._catalogue = catalogue
        self.spans: list[tuple[float, float]] = []

    def apply_manifest(self, manifest: Manifest) -> ApplyResult:
        start = time.perf_counter()
        try:
            return self._catalogue.apply_manifest(manifest)
        finally:
            self.spans.append((start, time.perf_counter()))


class TimedSyncer:
    """Runs ``sync_once`` in a loop and records when each apply ran."""

    def __init__(self, syncer: Syncer, applies: int) -> None:
        self._syncer = syncer
        self._applies = applies
        self.spans: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            for _ in range(self._applies):
                start = time.perf_counter()
                self._syncer.sync_once()
                self.spans.append((start, time.perf_counter()))
        finally:
            self.done.set()


def step(source: StoreSource, at: datetime) -> float:
    """What the playback thread does to start an item (decide, then mark it started).

    Returns the perf_counter instant between the two."""
    decision = source.decide(at)
    decided = time.perf_counter()
    if decision.asset_id is None or decision.sha256 is None:
        return decided
    fields = {
        "asset_id": decision.asset_id,
        "sha256": decision.sha256,
        "started_at": at,
        "play_id": uuid.uuid4().hex,
        "planned_end_at": at + timedelta(minutes=3),
    }
    if ItemStart is None:  # a checkout before ItemStart (f4737d8): the "before" figures
        source.mark_started(decision, **fields)  # type: ignore[call-arg]
    else:
        source.mark_started(ItemStart(decision, **fields))
    return decided


Sample = tuple[float, float, float, float]  # perf_counter: begin, decided, marked, meant to begin


def run_steps(
    source: StoreSource,
    start_at: datetime,
    until: threading.Event | None,
    n: int,
    interval_s: float = 0.0,
) -> tuple[list[Sample], datetime]:
    """Instants of each step, one every ``interval_s`` at most; n steps, or until ``until``."""
    samples: list[Sample] = []
    at = start_at
    wanted = time.perf_counter()
    while (until is None and len(samples) < n) or (until is not None and not until.is_set()):
        at += timedelta(minutes=3)
        begin = time.perf_counter()
        decided = step(source, at)
        marked = time.perf_counter()
        samples.append((begin, decided, marked, min(wanted, begin)))
        wanted = max(begin + interval_s, marked)
        if interval_s > 0:
            time.sleep(max(0.0, wanted - time.perf_counter()))
    return samples, at


def summary(label: str, samples: list[Sample]) -> str:
    parts = [f"{label:<24} {len(samples):>6} steps"]
    parts_ = (("decide+mark", 0, 2), ("decide", 0, 1), ("mark", 1, 2), ("late wake", 3, 0))
    for part, first, last in parts_:
        ms = sorted((s[last] - s[first]) * 1000 for s in samples)
        if len(ms) < 2:
            continue
        q = statistics.quantiles(ms, n=100, method="inclusive")
        parts.append(f"{part} p50 {q[49]:.3f} p99 {q[98]:.3f} max {ms[-1]:.3f} ms")
    return "\n    ".join(parts)


class CollectorPauses:
    """The cyclic garbage collector's runs: (seconds, generation, thread name)."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, int, str]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            took = time.perf_counter() - self._started
            self.runs.append((took, info["generation"], threading.current_thread().name))


def within(samples: list[Sample], spans: list[tuple[float, float]]) -> list[Sample]:
    return [s for s in samples if any(b <= s[2] and s[0] <= e for b, e in spans)]


def syncer_for(store: PlayerStore, body: bytes) -> tuple[Syncer, TimedCatalogue]:
    catalogue = TimedCatalogue(store.catalogue)
    syncer = Syncer(
        catalogue,  # type: ignore[arg-type]
        store.state,
        FullManifestSource(body),
        BenchClock(),
        retry=NoRetry(),
    )
    return syncer, catalogue


def child(db_path: Path, n_assets: int, applies: int) -> None:
    """``--syncer-in process``: the applies in a process of their own (no shared GIL)."""
    store = PlayerStore.open(db_path)
    try:
        syncer, catalogue = syncer_for(store, wire_manifest(n_assets))
        background = TimedSyncer(syncer, applies)
        print("ready", flush=True)
        background.run()
    finally:
        store.close()
    print(json.dumps({"syncs": background.spans, "applies": catalogue.spans}), flush=True)


def in_process(
    source: StoreSource,
    syncer: Syncer,
    catalogue: TimedCatalogue,
    at: datetime,
    *,
    applies: int,
    interval_s: float,
) -> tuple[list[Sample], list[tuple[float, float]], list[tuple[float, float]]]:
    catalogue.spans.clear()
    background = TimedSyncer(syncer, applies)
    thread = threading.Thread(target=background.run, name="syncer")
    thread.start()
    loaded, _ = run_steps(source, at, background.done, 0, interval_s)
    thread.join()
    return loaded, background.spans, catalogue.spans


def in_child(
    source: StoreSource,
    db_path: Path,
    n_assets: int,
    at: datetime,
    *,
    applies: int,
    interval_s: float,
) -> tuple[list[Sample], list[tuple[float, float]], list[tuple[float, float]]]:
    command = [sys.executable, __file__, "--child-db", str(db_path)]
    command += ["--assets", str(n_assets), "--applies", str(applies)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the syncer process failed")
        done = threading.Event()
        lines: list[str] = []

        def wait() -> None:
            assert proc.stdout is not None
            lines.extend(proc.stdout)
            done.set()

        waiter = threading.Thread(target=wait, name="child-waiter")
        waiter.start()
        loaded, _ = run_steps(source, at, done, 0, interval_s)
        waiter.join()
    spans = json.loads(lines[-1])
    syncs = [tuple(span) for span in spans["syncs"]]
    return loaded, syncs, [tuple(span) for span in spans["applies"]]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=3000, help="steps of the idle phase")
    parser.add_argument("--applies", type=int, default=3)
    parser.add_argument(
        "--syncer-in",
        choices=("thread", "process"),
        default="thread",
        help="thread: the daemon's layout; process: no GIL shared with playback",
    )
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=0.0,
        help="least time between two steps (0: back to back; every start kept while the "
        "lock is busy is one more row for each decision to weigh)",
    )
    parser.add_argument(
        "--interpreter",
        choices=("daemon", "untuned"),
        default="daemon",
        help="daemon: tuned before the phases as `run` tunes itself once started (the heap "
        "frozen out of the collector's walks, 1 ms GIL turns: player.interpreter); "
        "untuned: Python's defaults (for an older checkout)",
    )
    parser.add_argument("--child-db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_db is not None:
        child(args.child_db, args.assets, args.applies)
        return
    body = wire_manifest(args.assets)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        store = PlayerStore.open(db_path)
        try:
            syncer, catalogue = syncer_for(store, body)
            first = time.perf_counter()
            syncer.sync_once()
            print(
                f"{args.assets} assets, {len(body) / 1e6:.1f} MB manifest, "
                f"first apply {time.perf_counter() - first:.2f} s, syncer in a {args.syncer_in}, "
                f"steps at least {args.interval_ms:g} ms apart"
            )
            with store.db.write() as conn:  # every file verified (not what is timed)
                conn.execute(
                    text(
                        "INSERT INTO files (sha256, size_bytes, present, verified_at) "
                        "SELECT DISTINCT sha256, size_bytes, 1, :at FROM assets"
                    ),
                    {"at": to_micros(T0)},
                )
            source = StoreSource(store, Tier.JINGLE)
            pauses = CollectorPauses()
            gc.callbacks.append(pauses)
            interval_s = args.interval_ms / 1000
            if args.interpreter == "daemon":
                if tune_for_playback is None:
                    raise SystemExit(
                        "no player.interpreter in this checkout: --interpreter untuned"
                    )
                tune_for_playback()
            idle, at = run_steps(source, T0, None, args.steps, interval_s)
            if args.syncer_in == "thread":
                loaded, syncs, applies = in_process(
                    source, syncer, catalogue, at, applies=args.applies, interval_s=interval_s
                )
            else:
                loaded, syncs, applies = in_child(
                    source, db_path, args.assets, at, applies=args.applies, interval_s=interval_s
                )
            gc.callbacks.remove(pauses)
            kept = store.db.deferred.has_work()
            store.db.flush_deferred(force=True)
            lost = store.db.deferred.has_work()
        finally:
            store.close()
    report(idle, loaded, syncs, applies)
    longest = sorted(pauses.runs, reverse=True)[:3]
    print(
        "longest collector runs: "
        + ", ".join(f"{took * 1000:.0f} ms (gen {gen}, {name})" for took, gen, name in longest)
    )
    print(f"starts kept in memory at the end: {kept}; still kept after a write-back: {lost}")


def report(
    idle: list[Sample],
    loaded: list[Sample],
    syncs: list[tuple[float, float]],
    applies: list[tuple[float, float]],
) -> None:
    print(summary("idle", idle))
    print(summary("while syncing (all)", loaded))
    print(summary("during apply_manifest", within(loaded, applies)))
    decodes = [(b, a) for (b, _), (a, _) in zip(syncs, applies, strict=True)]
    print(summary("during fetch+decode", within(loaded, decodes)))
    print("sync_once: " + ", ".join(f"{e - b:.2f} s" for b, e in syncs))
    print("of which apply_manifest: " + ", ".join(f"{e - b:.2f} s" for b, e in applies))
    origin = syncs[0][0]
    # A step's delay counts from when it wanted to begin: a late wake-up is
    # the GIL held elsewhere (a collection, a C call), which the step's own
    # time does not show.
    worst = sorted(loaded, key=lambda s: s[3] - s[2])[:5]
    print(
        "worst steps (ms, began s after the first sync began): "
        + ", ".join(f"{(s[2] - s[3]) * 1000:.0f} at {s[0] - origin:.2f}" for s in worst)
    )
    print(
        "apply_manifest spans (s, same origin): "
        + ", ".join(f"{b - origin:.2f}-{e - origin:.2f}" for b, e in applies)
    )


if __name__ == "__main__":
    main()
