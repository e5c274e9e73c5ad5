"""Each command imports only what it needs: the CLI starts fast on a Pi (issue 11).

``status`` used to import the daemon, apscheduler, httpx, SQLAlchemy and
alembic to find a socket path and read a few rows: 5-10 s per command on a
Pi. Not a timed test: a fresh interpreter runs the command through the real
entry point and reports which heavy modules it loaded (scripts/bench/
bench_cli.py has the figures).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from player.cli import EXIT_OK, main

REPO = Path(__file__).resolve().parents[3]
HEAVY = (
    "sqlalchemy",
    "alembic",
    "vlc",
    "apscheduler",
    "httpx",
    "tenacity",
    "psutil",
    "player.daemon",
    "player.store.repository",
)

# Run the command as the console script does, then list the heavy modules loaded.
PROBE = """
import io, json, sys
from player.cli import main
code = main(sys.argv[1:], stdout=io.StringIO(), stderr=io.StringIO())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY_ROOTS or m in HEAVY)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def loaded_heavy_modules(config: Path, *argv: str) -> tuple[int, set[str]]:
    """(exit code, heavy top-level packages and modules) after ``lomuz-player ARGV``."""
    prelude = f"HEAVY = {HEAVY!r}\nHEAVY_ROOTS = {{h for h in HEAVY if '.' not in h}}\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE, "--config", str(config), *argv],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        cwd=REPO,  # python -c puts the cwd first on sys.path: this checkout
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = {m if m in HEAVY else m.split(".")[0] for m in result["heavy"]}
    return result["code"], heavy


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[playback]\nbackend = "null"\n')
    return path


@pytest.fixture
def provisioned(config: Path, bundle_dir: Path) -> Path:
    """``config`` with a current database and cache (a bundle imported)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--config", str(config), "import", str(bundle_dir)], environ={}, stdout=out, stderr=err
    )
    assert (code, err.getvalue()) == (EXIT_OK, "")
    return config


LIGHT_COMMANDS = [
    ["--help"],
    ["--version"],
    ["config"],
    ["config", "--json"],
    ["status"],
    ["status", "--json"],
    ["plays"],
    ["plays", "--json"],
    ["clock", "reset"],
    ["sync"],
    ["next"],
    ["next", "--json"],
    ["next", "--at", "2026-12-01T09:00:00Z"],
]


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=" ".join)
def test_light_commands_import_nothing_heavy(provisioned: Path, argv: list[str]) -> None:
    # sync: not enrolled and no daemon, so it must say so before importing anything;
    # next: the decision query on stdlib sqlite3 (player.store.decision_query).
    _, heavy = loaded_heavy_modules(provisioned, *argv)
    assert heavy == set()


@pytest.mark.parametrize("argv", [["status"], ["status", "--json"]], ids=" ".join)
def test_status_on_an_empty_box_imports_nothing_heavy(config: Path, argv: list[str]) -> None:
    code, heavy = loaded_heavy_modules(config, *argv)
    assert (code, heavy) == (EXIT_OK, set())


def test_import_into_a_current_database_does_not_load_alembic(
    provisioned: Path, bundle_dir: Path
) -> None:
    code, heavy = loaded_heavy_modules(provisioned, "import", str(bundle_dir))
    assert code == EXIT_OK
    assert "alembic" not in heavy
    assert heavy <= {"sqlalchemy", "player.store.repository"}


def test_the_first_import_migrates_with_alembic(config: Path, bundle_dir: Path) -> None:
    # The counter-check: the probe does see alembic when a command really migrates.
    code, heavy = loaded_heavy_modules(config, "import", str(bundle_dir))
    assert code == EXIT_OK
    assert "alembic" in heavy


def test_doctor_loads_libvlc_but_not_the_store_or_the_daemon(provisioned: Path) -> None:
    _, heavy = loaded_heavy_modules(provisioned, "doctor", "--json")
    assert heavy <= {"vlc"}
