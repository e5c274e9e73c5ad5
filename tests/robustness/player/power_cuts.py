"""Power cuts: SIGKILL a real ``lomuz-player run`` at random moments, restart, check.

Used by ``test_power_cuts.py`` (CI, 20 kills) and ``scripts/soak/power_cuts.py``
(200 kills). The player talks to a real ``lomuz-control serve`` through a
FaultProxy that only stalls media bodies mid-way, so downloads last long
enough for kills to land inside them; every few kills the director appends a
new large asset, so there is always something to download after a restart.

Rules checked after every kill: ``PRAGMA integrity_check`` is ok (read-only
connection), every committed cache file hashes to its name, and the restarted
player is playing within ``max_restart_s``. At the end, every play the player
recorded locally is on the server exactly once, and for every kill:

- the item the player's status showed just before the kill has exactly one
  play (completed before the kill, or recovered as ``skipped`` after it);
- every item the database held as in progress at the kill (read back from the
  killed player's file) has exactly one play, ``skipped``, with
  ``started_at <= ended_at``;
- no two plays share an id, or an asset and a start.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.robustness.faultproxy import Fault, FaultProxy, RandomPolicy, RequestInfo
from tests.robustness.player.harness import (
    ApiServer,
    Director,
    PlayerProcess,
    bad_cache_files,
    check_delivery,
    integrity_check,
    noise_wav,
)

ASSET_SECONDS = 6.0  # ~1 MB of 44.1 kHz stereo WAV per asset
ITEM_MS = 1500
NEW_ASSET_EVERY = 4


@dataclass
class PowerCutReport:
    kills: int = 0
    restart_to_playing_s: list[float] = field(default_factory=list)
    phases: Counter[str] = field(default_factory=Counter)
    plays_checked: int = 0
    kills_during_item: int = 0  # an item was in progress in the database at the kill
    recovered_skipped: int = 0  # of those items, plays recorded skipped after the restart
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def max_restart_s(self) -> float:
        return max(self.restart_to_playing_s, default=0.0)

    def summary(self) -> str:
        phases = ", ".join(f"{k} {v}" for k, v in sorted(self.phases.items()))
        return (
            f"kills={self.kills} max_restart_to_playing_s={self.max_restart_s:.2f} "
            f"plays_checked={self.plays_checked} kills_during_item={self.kills_during_item} "
            f"recovered_skipped={self.recovered_skipped} duplicates={self.duplicates} "
            f"phases=({phases}) problems={len(self.problems)}"
        )


def _is_media(request: RequestInfo) -> bool:
    return request.path.startswith("/v1/media/")


def _phase(live: dict[str, object] | None) -> str:
    """What the player was doing when the power went (from its last status)."""
    if live is None:
        return "starting"
    downloads = live.get("downloads")
    if isinstance(downloads, dict) and (downloads.get("in_progress") or downloads.get("pending")):
        return "download"
    outbox = live.get("outbox")
    if isinstance(outbox, dict) and outbox.get("pending"):
        return "playback+outbox"
    return "playback"


@dataclass(frozen=True)
class _Cut:
    """One kill: what the status showed just before, what the database held after."""

    n: int
    playing: tuple[str, str] | None  # (asset_id, started_at) from the last status
    in_progress: tuple[str, ...]  # play ids the killed player's database held as in progress


def in_progress_ids(db_path: Path) -> tuple[str, ...]:
    """The play ids a (killed) player's database holds as in progress (read-only)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT value FROM state WHERE key = 'playback.in_progress'").fetchone()
    finally:
        conn.close()
    return tuple(str(e["id"]) for e in json.loads(row[0])) if row else ()


def _playing(live: dict[str, object] | None) -> tuple[str, str] | None:
    now = (live or {}).get("now_playing")
    if not isinstance(now, dict) or now.get("state") != "playing":
        return None
    asset_id, started_at = now.get("asset_id"), now.get("started_at")
    if not isinstance(asset_id, str) or not isinstance(started_at, str):
        return None
    return asset_id, started_at


def check_cut_plays(
    cuts: list[_Cut], local: list[dict[str, object]], report: PowerCutReport
) -> None:
    """The rules on the plays of the items the kills interrupted (see the module docstring)."""
    by_id: dict[str, list[dict[str, object]]] = {}
    by_start: dict[tuple[object, object], int] = {}
    for play in local:
        by_id.setdefault(str(play["id"]), []).append(play)
        key = (play["asset_id"], play["started_at"])
        by_start[key] = by_start.get(key, 0) + 1
    report.duplicates = sum(len(v) - 1 for v in by_id.values()) + sum(
        n - 1 for n in by_start.values()
    )
    if report.duplicates:
        report.problems.append(f"{report.duplicates} duplicate plays")
    for cut in cuts:
        if cut.playing is not None and by_start.get(cut.playing, 0) != 1:
            report.problems.append(
                f"kill {cut.n}: the item playing before the kill {cut.playing} has "
                f"{by_start.get(cut.playing, 0)} plays, not 1"
            )
        if cut.in_progress:
            report.kills_during_item += 1
        for play_id in cut.in_progress:
            plays = by_id.get(play_id, [])
            if len(plays) != 1 or plays[0]["outcome"] != "skipped":
                report.problems.append(
                    f"kill {cut.n}: in-progress item {play_id} has plays "
                    f"{[p['outcome'] for p in plays]}, not one skipped"
                )
                continue
            if str(plays[0]["ended_at"]) < str(plays[0]["started_at"]):
                report.problems.append(f"kill {cut.n}: play {play_id} ends before it starts")
            report.recovered_skipped += 1


def run_power_cuts(
    root: Path,
    kills: int,
    *,
    seed: int = 1,
    max_restart_s: float = 10.0,
    max_uptime_s: float = 3.0,
    say: Callable[[str], None] = lambda _text: None,
) -> PowerCutReport:
    rng = random.Random(seed)
    report = PowerCutReport()
    api = ApiServer(root / "api")
    proxy = FaultProxy("127.0.0.1", api.port, max_stall_s=5.0)
    director = Director(api)
    player = PlayerProcess(root / "player", telemetry_interval_s=5)
    cuts: list[_Cut] = []
    try:
        proxy.set_policy(
            RandomPolicy(
                [(Fault.stall(0.8, fraction=f), 0.25) for f in (0.2, 0.5, 0.8)],
                seed=seed,
                match=_is_media,
            )
        )
        code = director.setup(
            [noise_wav(ASSET_SECONDS, seed * 1000 + i) for i in range(3)], item_ms=ITEM_MS
        )
        player.enroll(proxy.url, code)
        for n in range(kills):
            if n and n % NEW_ASSET_EVERY == 0:
                director.add_item(noise_wav(ASSET_SECONDS, seed * 1000 + 100 + n), f"new-{n}")
            player.start()
            try:
                report.restart_to_playing_s.append(player.wait_playing(max_restart_s))
            except TimeoutError:
                report.problems.append(f"kill {n}: not playing {max_restart_s} s after restart")
            time.sleep(rng.uniform(0.0, max_uptime_s))
            live = player.status(timeout_s=0.5)
            report.phases[_phase(live)] += 1
            player.kill()
            report.kills += 1
            cuts.append(_Cut(n, _playing(live), in_progress_ids(player.db_path)))
            check = integrity_check(player.db_path)
            if check != "ok":
                report.problems.append(f"kill {n}: integrity_check says {check!r}")
            bad = bad_cache_files(player.data_dir / "media")
            if bad:
                report.problems.append(f"kill {n}: cache files fail their hash: {bad}")
            if (n + 1) % 10 == 0:
                say(f"{n + 1} kills: {report.summary()}")
        # A last clean run: everything pending goes up, then SIGTERM flushes the rest.
        player.start()
        player.wait_playing(max_restart_s)
        time.sleep(player.telemetry_interval_s + 3)
        exit_code = player.stop()
        if exit_code != 0:
            report.problems.append(f"clean stop exited {exit_code}")
        local = player.local_plays()
        report.plays_checked = len(local)
        report.problems.extend(check_delivery(local, director.server_plays()))
        check_cut_plays(cuts, local, report)
        if not local:
            report.problems.append("no plays were recorded at all")
    finally:
        player.close()
        director.close()
        proxy.close()
        api.close()
    return report
