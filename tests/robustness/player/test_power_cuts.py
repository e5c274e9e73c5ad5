"""Suite 1: power cuts (SIGKILL) against a real player and a real control API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.robustness.player.power_cuts import run_power_cuts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_power_cuts_leave_a_sound_database_a_verified_cache_and_every_play_delivered_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kills = int(os.environ.get("LOMUZ_POWER_CUTS", "20"))
    report = run_power_cuts(tmp_path, kills, seed=int(os.environ.get("LOMUZ_SEED", "1")))
    with capsys.disabled():
        print(f"\npower cuts: {report.summary()}")
    assert report.problems == []
    assert report.kills == kills
    assert report.max_restart_s < 10.0
    assert report.plays_checked > 0
    # The kills must really have hit downloads, not only steady playback.
    assert report.phases["download"] >= 1, report.phases
    # Every kill during an item left exactly one skipped play for it, no duplicates
    # (report.problems names any kill that did not).
    assert report.kills_during_item >= kills // 2, report.summary()
    assert report.recovered_skipped >= report.kills_during_item
    assert report.duplicates == 0
