"""Network faults: a real player behind a FaultProxy with a RandomPolicy, then clean.

Used by ``test_network_faults.py`` (CI, ~20 s of faults) and
``scripts/soak/network_faults.py`` (longer). After the faulty period the
proxy passes everything; the player must converge to what a second player
synced cleanly has (cursor, catalogue, decision), never play a bad file, and
have backed off without flooding the API or its log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from player.runtime.control import ask_daemon
from player.store.repository import PlayerStore
from tests.robustness.faultproxy import Fault, FaultProxy, RandomPolicy, ScriptedPolicy
from tests.robustness.player.harness import (
    ApiServer,
    Director,
    PlayerProcess,
    bad_cache_files,
    noise_wav,
)

FAULTS: list[tuple[Fault, float]] = [
    (Fault.drop(), 0.08),
    (Fault.reset(fraction=0.5), 0.08),
    (Fault.stall(2.0, fraction=0.3), 0.05),
    (Fault.error(503), 0.08),
    (Fault.error(500, forward=True), 0.04),
    (Fault.rate_limit(2), 0.06),
    (Fault.truncate(fraction=0.6), 0.08),
    (Fault.corrupt(flips=3, seed=7), 0.10),
    (Fault.wrong_length(200), 0.05),
    (Fault.wrong_length(-50), 0.05),
]
AT = "2030-06-03T10:00:00Z"


@dataclass
class NetworkReport:
    fault_s: float = 0.0
    requests_with_faults: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    max_requests_per_s: int = 0
    max_requests_per_10s: int = 0
    log_lines: int = 0
    plays_checked: int = 0
    converge_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"fault_s={self.fault_s:.0f} requests={self.requests_with_faults} "
            f"faults={self.faults_by_kind} max_req_1s={self.max_requests_per_s} "
            f"max_req_10s={self.max_requests_per_10s} log_lines={self.log_lines} "
            f"plays_checked={self.plays_checked} converge_s={self.converge_s:.1f} "
            f"problems={len(self.problems)}"
        )


def _catalogue(db_path: Path) -> dict[str, Any]:
    with PlayerStore.open(db_path) as store:
        return {
            "cursor": store.state.cursor(),
            "device": store.state.device(),
            "assets": sorted(store.catalogue.all_assets(), key=lambda a: a.id),
            "playlists": sorted(store.catalogue.all_playlists(), key=lambda p: p.id),
            "schedules": sorted(store.catalogue.all_schedules(), key=lambda s: s.id),
            "files": sorted(f.sha256 for f in store.files.file_states() if f.present),
        }


def run_network_faults(
    root: Path,
    *,
    fault_s: float = 20.0,
    seed: int = 3,
    max_log_lines: int = 400,
    max_requests_per_s: int = 40,
    say: Callable[[str], None] = lambda _text: None,
) -> NetworkReport:
    report = NetworkReport(fault_s=fault_s)
    api = ApiServer(root / "api")
    proxy = FaultProxy("127.0.0.1", api.port, max_stall_s=5.0, io_timeout_s=10.0)
    director = Director(api)
    player = PlayerProcess(root / "faulty", telemetry_interval_s=5)
    clean = PlayerProcess(root / "clean")
    try:
        code = director.setup([noise_wav(1.0, seed * 10 + i) for i in range(4)], item_ms=1000)
        director.upload(noise_wav(1.0, seed * 10 + 9), "evac", emergency="true")
        player.enroll(proxy.url, code)  # enrollment itself goes through a clean proxy
        proxy.set_policy(RandomPolicy(FAULTS, seed=seed))
        proxy.reset_stats()
        player.start()
        deadline = time.monotonic() + fault_s
        edits = 0
        while time.monotonic() < deadline:
            # Director edits during the faults, so deltas (not just one full) must land.
            if edits < 2 and time.monotonic() > deadline - fault_s * (0.6 - 0.3 * edits):
                director.add_item(noise_wav(1.0, seed * 10 + 20 + edits), f"edit-{edits}")
                edits += 1
            ask_daemon(player.data_dir / "control.sock", "sync", timeout_s=15.0)
            time.sleep(2.0)
        stats = proxy.stats()
        report.requests_with_faults = stats.requests_total
        report.faults_by_kind = {str(k): v for k, v in stats.by_fault.items()}
        report.max_requests_per_s = proxy.max_requests_in_window(1.0)
        report.max_requests_per_10s = proxy.max_requests_in_window(10.0)
        proxy.set_policy(ScriptedPolicy([]))
        say(f"faults over: {report.summary()}")

        # Clean network: one requested sync (with downloads) must converge.
        started = time.monotonic()
        reply: dict[str, Any] | None = None
        while time.monotonic() - started < 60:
            reply = ask_daemon(
                player.data_dir / "control.sock", "sync", timeout_s=60.0, download_wait_s=30
            )
            if reply and reply.get("ok") and reply.get("downloads_idle"):
                downloads = reply.get("downloads") or {}
                if not downloads.get("pending"):
                    break
            time.sleep(1.0)
        report.converge_s = time.monotonic() - started
        if not (reply and reply.get("ok")):
            report.problems.append(f"no clean sync after the faults: {reply}")
        time.sleep(2.0)  # let a few items play from the converged state
        player.stop()

        clean.enroll(api.url, director.new_code())
        clean.cli("sync", "--json", timeout_s=120)
        faulty_state, clean_state = _catalogue(player.db_path), _catalogue(clean.db_path)
        for key in ("cursor", "assets", "playlists", "schedules", "files"):
            if faulty_state[key] != clean_state[key]:
                report.problems.append(
                    f"{key} differs from a clean sync: "
                    f"{faulty_state[key]!r} != {clean_state[key]!r}"
                )
        faulty_next = json.loads(player.cli("next", "--at", AT, "--json"))
        clean_next = json.loads(clean.cli("next", "--at", AT, "--json"))
        # asset_id may differ: rotation state is the faulty player's own (it has played).
        for key in ("tier", "schedule_id", "playlist_id"):
            if faulty_next[key] != clean_next[key]:
                report.problems.append(
                    f"next --at {AT}: {key} {faulty_next[key]!r} != {clean_next[key]!r} (clean)"
                )

        true_shas = set(director.sha256s.values())
        if director.sha256s.get(faulty_next["asset_id"]) != faulty_next["sha256"]:
            report.problems.append(f"next --at {AT} names a wrong file: {faulty_next}")
        plays = player.local_plays()
        report.plays_checked = len(plays)
        for play in plays:
            if play["source"] in ("playlist", "emergency") and play["sha256"] not in true_shas:
                report.problems.append(f"played a file that is no asset's: {play}")
        bad = bad_cache_files(player.data_dir / "media")
        if bad:
            report.problems.append(f"cache files fail their hash: {bad}")
        report.log_lines = player.log_lines()
        if report.log_lines > max_log_lines:
            report.problems.append(f"{report.log_lines} log lines in {fault_s:.0f} s of faults")
        if report.max_requests_per_s > max_requests_per_s:
            report.problems.append(f"{report.max_requests_per_s} requests in one second")
    finally:
        player.close()
        clean.close()
        director.close()
        proxy.close()
        api.close()
    return report
