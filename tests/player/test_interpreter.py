"""The daemon's interpreter tuning, in a process of its own (it changes the whole process)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys
from player.interpreter import PLAYBACK_SWITCH_INTERVAL_S, collector_paused, tune_for_playback
before = {"frozen": gc.get_freeze_count(), "switch_s": sys.getswitchinterval()}
tune_for_playback()
with collector_paused():
    with collector_paused():
        pass
    inner_resumed = gc.isenabled()
print(json.dumps({
    "before": before,
    "frozen": gc.get_freeze_count(),
    "switch_s": sys.getswitchinterval(),
    "wanted_switch_s": PLAYBACK_SWITCH_INTERVAL_S,
    "inner_resumed": inner_resumed,
    "enabled_after": gc.isenabled(),
}))
"""


def test_tuning_freezes_the_heap_and_shortens_gil_turns_and_pauses_nest() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    seen = json.loads(out)
    assert seen["before"]["frozen"] == 0
    assert seen["frozen"] > 1000  # the imported modules at least
    assert seen["switch_s"] == seen["wanted_switch_s"] < seen["before"]["switch_s"]
    assert seen["inner_resumed"] is False  # only the outermost pause resumes
    assert seen["enabled_after"] is True
