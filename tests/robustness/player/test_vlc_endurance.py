"""Suite 5 (libvlc half of 6): the player process does not grow over many transitions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.robustness.player.vlc_endurance import MIB, run_vlc_endurance

pytestmark = [pytest.mark.vlc, pytest.mark.slow]


@pytest.mark.usefixtures("libvlc")
def test_vlc_playback_loop_keeps_rss_fds_and_threads_flat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transitions = int(os.environ.get("LOMUZ_VLC_TRANSITIONS", "200"))
    report = run_vlc_endurance(tmp_path, transitions, warmup=40)
    with capsys.disabled():
        print(f"\nvlc endurance: {report.summary()}")
    assert report.problems == []
    assert report.transitions >= transitions
    assert report.rss_growth_bytes < 5 * MIB
    assert max(s.fds for s in report.samples) <= report.baseline.fds + 2
