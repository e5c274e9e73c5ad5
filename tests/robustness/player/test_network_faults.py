"""Suite 2: network faults between a real player and a real control API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.robustness.player.network_faults import run_network_faults

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_player_converges_after_faults_never_plays_a_bad_file_and_does_not_flood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fault_s = float(os.environ.get("LOMUZ_FAULT_S", "20"))
    report = run_network_faults(tmp_path, fault_s=fault_s)
    with capsys.disabled():
        print(f"\nnetwork faults: {report.summary()}")
    assert report.problems == []
    # The faults really happened, of many kinds.
    assert report.requests_with_faults >= 10
    assert len([k for k in report.faults_by_kind if k != "pass"]) >= 4, report.faults_by_kind
    assert report.plays_checked > 0
