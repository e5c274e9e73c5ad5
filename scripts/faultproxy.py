#!/usr/bin/env python3
"""Run the fault-injecting proxy (tests/robustness/faultproxy.py) for a bounded time.

    .venv/bin/python scripts/faultproxy.py --upstream 127.0.0.1:8080 --duration-s 600 \\
        --seed 7 --drop 0.02 --reset 0.02 --error 0.05 --rate-limit 0.05 --stall 0.02

Prints the proxy URL on the first line (point a player's `[api] url` at it),
then, when the duration ends or on Ctrl-C, the counters as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.robustness.faultproxy import Fault, FaultProxy, RandomPolicy


def _upstream(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fault-injecting HTTP proxy on 127.0.0.1")
    p.add_argument("--upstream", type=_upstream, required=True, help="HOST:PORT")
    p.add_argument("--duration-s", type=float, default=300.0, help="stops by itself after this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stall-s", type=float, default=5.0, help="length of injected stalls")
    p.add_argument("--retry-after-s", type=int, default=5)
    for kind in (
        "drop",
        "reset",
        "stall",
        "error",
        "rate-limit",
        "truncate",
        "corrupt",
        "wrong-length",
    ):
        p.add_argument(
            f"--{kind}",
            type=float,
            default=0.0,
            metavar="P",
            help=f"probability of '{kind}' per request",
        )
    args = p.parse_args(argv)
    if args.duration_s <= 0:
        p.error("--duration-s must be > 0")
    weights = [
        (Fault.drop(), args.drop),
        (Fault.reset(), args.reset),
        (Fault.stall(args.stall_s), args.stall),
        (Fault.error(503), args.error),
        (Fault.rate_limit(args.retry_after_s), args.rate_limit),
        (Fault.truncate(), args.truncate),
        (Fault.corrupt(seed=args.seed), args.corrupt),
        (Fault.wrong_length(), args.wrong_length),
    ]
    try:
        policy = RandomPolicy([(f, w) for f, w in weights if w > 0], seed=args.seed)
    except ValueError as exc:
        p.error(str(exc))
    host, port = args.upstream
    with FaultProxy(host, port, policy=policy, max_stall_s=max(args.stall_s, 1.0)) as proxy:
        print(proxy.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.duration_s)
        stats = proxy.stats()
    print(
        json.dumps(
            {
                "requests_total": stats.requests_total,
                "forwarded_total": stats.forwarded_total,
                "connections_total": stats.connections_total,
                "by_fault": {str(k): v for k, v in stats.by_fault.items()},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
