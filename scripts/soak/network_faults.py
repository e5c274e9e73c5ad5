"""Long network-fault soak: a real player behind a FaultProxy for --fault-s seconds.

Same rules as tests/robustness/player/test_network_faults.py (see
tests/robustness/player/network_faults.py); exits 1 when any rule breaks.

    .venv/bin/python scripts/soak/network_faults.py --fault-s 300
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.robustness.player.network_faults import run_network_faults  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lomuz-net-faults-") as tmp:
        report = run_network_faults(
            Path(tmp),
            fault_s=args.fault_s,
            seed=args.seed,
            max_log_lines=int(200 + args.fault_s * 2),
            say=lambda text: print(text, flush=True),
        )
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(report.summary())
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
