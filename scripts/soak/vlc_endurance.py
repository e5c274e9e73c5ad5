"""libvlc endurance soak: >= 2,000 transitions through PlaybackLoop + VlcOutput.

Same rules as tests/robustness/player/test_vlc_endurance.py (see
tests/robustness/player/vlc_endurance.py); exits 1 when any rule breaks.

    .venv/bin/python scripts/soak/vlc_endurance.py --transitions 2000
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.robustness.player.vlc_endurance import run_vlc_endurance  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transitions", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lomuz-vlc-endurance-") as tmp:
        report = run_vlc_endurance(
            Path(tmp),
            args.transitions,
            warmup=args.warmup,
            say=lambda text: print(text, flush=True),
        )
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(report.summary())
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
