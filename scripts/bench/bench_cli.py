"""Wall time of each ``lomuz-player`` command a technician runs, fresh process each.

Usage: .venv/bin/python scripts/bench/bench_cli.py [--runs 7] [--importtime 8]
       [--only status next] [--tree /path/to/other/checkout]

Sets up a real player state in a temp dir the way tests/player/cli does (an
offline bundle imported with ``lomuz-player import``, ``backend = "null"``),
then runs every command ``--runs`` times as a new process (the installed
console script next to this interpreter, else ``python -c "...main()"``) and
prints the median and the worst wall time, the exit code and the first line
of stderr. No daemon runs: ``sync`` fails (not enrolled) and ``enroll`` is
pointed at a closed loopback port, so both must fail fast and say why. The
"enrolled" rows use a second data dir whose credentials name a closed
loopback port: an API that is down (``sync`` then retries with backoff).

``--tree`` measures the player code of another checkout (e.g. the commit
before a change) with the same state and the same commands: the state is
set up, and the commands run, with that checkout first on ``PYTHONPATH``.

With ``--importtime N`` each command is also run once under
``python -X importtime`` and the N heaviest top-level packages (self time
summed over their modules) are printed: what to make lazy next.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from player.credentials import Credentials, save_credentials  # noqa: E402
from tests.player.cli.bundles import manifest_for, standard_assets, write_bundle  # noqa: E402

MAIN_CODE = "import sys; from player.cli import main; sys.exit(main())"


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


ENROLLED = "enrolled:"  # a command run against the enrolled data dir


def commands(bundle_dir: Path) -> list[list[str]]:
    port = closed_loopback_port()
    return [
        ["--help"],
        ["--version"],
        ["status"],
        ["status", "--json"],
        ["next"],
        ["next", "--json"],
        ["next", "--at", "2026-12-01T09:00:00Z"],
        ["plays"],
        ["plays", "--json"],
        ["config"],
        ["doctor"],
        ["doctor", "--json"],
        ["sync"],
        ["clock", "reset"],
        ["enroll", "--api", f"http://127.0.0.1:{port}", "--code", "bench-code"],
        ["import", str(bundle_dir)],
        [ENROLLED, "status"],
        [ENROLLED, "doctor"],
        [ENROLLED, "sync"],
    ]


def player_argv() -> list[str]:
    script = Path(sys.executable).parent / "lomuz-player"
    return [str(script)] if script.is_file() else [sys.executable, "-c", MAIN_CODE]


def setup_state(root: Path, tree: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    """Data dirs holding an imported bundle, one of them enrolled with an API that is down.

    Returns (bundle dir, environment, enrolled environment).
    """
    assets = standard_assets()
    bundle_dir = write_bundle(root / "bundle", assets, manifest_for(assets, ["ast-a", "ast-b"]))
    base_env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
    base_env["PYTHONPATH"] = str(tree)
    base_env["LOMUZ_BENCH_CWD"] = str(root)  # not a checkout: --tree decides the code
    envs = []
    for name in ("data", "data-enrolled"):
        config = root / f"{name}.toml"
        config.write_text(f'data_dir = "{root / name}"\n[playback]\nbackend = "null"\n')
        env = {**base_env, "LOMUZ_PLAYER_CONFIG": str(config)}
        done = subprocess.run(
            [*player_argv(), "import", str(bundle_dir)],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            cwd=root,
        )
        if done.returncode != 0:
            raise SystemExit(f"setup: import failed: {done.stderr.strip()}")
        envs.append(env)
    save_credentials(
        root / "data-enrolled" / "credentials.json",
        Credentials(f"http://127.0.0.1:{closed_loopback_port()}", "dev-1", "t" * 43),
        owner=None,
    )
    return bundle_dir, envs[0], envs[1]


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=env["LOMUZ_BENCH_CWD"],
    )
    elapsed_s = time.perf_counter() - started
    first_err = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
    return elapsed_s, done.returncode, first_err


def import_offenders(args: list[str], env: dict[str, str], top: int) -> list[tuple[str, float]]:
    """Self import time summed by top-level package, heaviest first (ms)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MAIN_CODE, *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=env["LOMUZ_BENCH_CWD"],  # python -c puts the cwd first on sys.path
    )
    by_package: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package", one line per module
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_field, _cumulative, name = line.removeprefix("import time:").split("|")
        by_package[name.strip().split(".")[0]] += int(self_field) / 1000
    return sorted(by_package.items(), key=lambda kv: -kv[1])[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median shown)")
    parser.add_argument(
        "--importtime",
        type=int,
        default=0,
        metavar="N",
        help="also show the N heaviest imported packages per command",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        metavar="CMD",
        help="only commands whose first word is one of these",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=REPO,
        help="checkout whose player code runs (default: this one)",
    )
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lomuz-bench-cli-"))
    try:
        bundle_dir, plain_env, enrolled_env = setup_state(root, opts.tree.resolve())
        base = player_argv()
        print(f"# {base[0]} with {opts.tree.resolve()} ({opts.runs} runs each, fresh process)")
        print(f"{'command':<40} {'median_s':>8} {'max_s':>7}  rc  stderr")
        for listed in commands(bundle_dir):
            enrolled = listed[0] == ENROLLED
            args, env = (listed[1:], enrolled_env) if enrolled else (listed, plain_env)
            if opts.only and args[0] not in opts.only:
                continue
            runs = [time_once([*base, *args], env) for _ in range(opts.runs)]
            times = [elapsed for elapsed, _, _ in runs]
            _, code, first_err = runs[-1]
            shown = " ".join(a if not a.startswith(str(root)) else "DIR" for a in args)
            shown = f"{shown} (enrolled, API down)" if enrolled else shown
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            print(
                f"{shown:<40} {statistics.median(times):8.3f} {max(times):7.3f}  "
                f"{code:>2}  {first_err[:70]}"
            )
            if opts.importtime:
                heavy = import_offenders(args, env, opts.importtime)
                print("    imports: " + ", ".join(f"{name} {ms:.0f}ms" for name, ms in heavy))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
