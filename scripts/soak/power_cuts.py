"""Long power-cut soak: 200 SIGKILLs of a real player against a real control API.

Same rules as tests/robustness/player/test_power_cuts.py (see
tests/robustness/player/power_cuts.py), including one ``skipped`` play for
every item a kill interrupted and no duplicates; exits 1 when any rule breaks.

    .venv/bin/python scripts/soak/power_cuts.py --kills 200
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.robustness.player.power_cuts import run_power_cuts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-uptime-s",
        type=float,
        default=3.0,
        help="longest random wait between playing and the kill",
    )
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lomuz-power-cuts-") as tmp:
        report = run_power_cuts(
            Path(tmp),
            args.kills,
            seed=args.seed,
            max_uptime_s=args.max_uptime_s,
            say=lambda text: print(text, flush=True),
        )
    restarts = sorted(report.restart_to_playing_s)
    median = restarts[len(restarts) // 2] if restarts else 0.0
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(
        f"{report.summary()} median_restart_s={median:.2f} wall_s={time.monotonic() - started:.0f}"
    )
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
