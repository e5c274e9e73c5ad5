"""The read commands create and change no file, and ``next`` uses the daemon's clock.

Field finding: ``lomuz-player status`` run as root created a root-owned
``player.db``; the service (user lomuz) then failed with "attempt to write a
readonly database". ``status``, ``next``, ``plays``, ``doctor`` and ``config``
must leave ``data_dir`` exactly as they found it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from player.cli import EXIT_FAILURE, EXIT_OK, main
from player.runtime.control import ControlServer
from player.store.read_only import KEY_CLOCK_LOWER_BOUND
from player.store.repository import PlayerStore

READ_COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["next"],
    ["next", "--json"],
    ["next", "--at", "2026-12-01T09:00:00Z"],
    ["plays"],
    ["plays", "--json"],
    ["config"],
    ["config", "--json"],
]


def run(config: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(f'data_dir = "{data_dir}"\n[playback]\nbackend = "null"\n')
    return path


def tree(directory: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``directory`` with (size, mtime_ns): what a write would change."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=" ".join)
def test_on_an_empty_box_nothing_is_created(config: Path, data_dir: Path, argv: list[str]) -> None:
    code, out, err = run(config, *argv)
    assert (code, err) == (EXIT_OK, "")
    assert out
    assert not data_dir.exists()


def test_doctor_on_an_empty_box_creates_nothing(config: Path, data_dir: Path) -> None:
    run(config, "doctor", "--json")
    assert not data_dir.exists()


def test_status_without_a_database_says_no_local_state(config: Path) -> None:
    code, out, _ = run(config, "status")
    assert code == EXIT_OK
    assert "no local state" in out
    code, out, _ = run(config, "status", "--json")
    assert json.loads(out)["database"] is None


def test_next_without_a_database_falls_back_and_says_why(config: Path) -> None:
    code, out, _ = run(config, "next", "--at", "2026-12-01T09:00:00Z", "--json")
    assert code == EXIT_OK
    decision = json.loads(out)
    assert decision["tier"] == "jingle"
    assert "no local state yet" in decision["reasons"][0]


@pytest.fixture
def imported(config: Path, bundle_dir: Path, data_dir: Path) -> Path:
    code, _, err = run(config, "import", str(bundle_dir))
    assert code == EXIT_OK, err
    assert not (data_dir / "player.db-wal").exists()  # closed cleanly, like a stopped daemon
    return data_dir


@pytest.mark.parametrize("argv", [*READ_COMMANDS, ["doctor"], ["doctor", "--json"]], ids=" ".join)
def test_on_an_existing_database_no_file_changes(
    config: Path, imported: Path, argv: list[str]
) -> None:
    before = tree(imported)
    code, out, _ = run(config, *argv)
    assert code in (EXIT_OK, EXIT_FAILURE)  # doctor fails on this test box (no service, …)
    assert out
    # A plain mode=ro open would add root-owned player.db-wal and player.db-shm.
    assert tree(imported) == before


def test_status_reads_an_existing_database(config: Path, imported: Path) -> None:
    code, out, _ = run(config, "status", "--json")
    assert code == EXIT_OK
    status = json.loads(out)
    assert status["cursor"] == "bundle-1"
    assert status["counts"]["assets"] == 3


def test_an_old_schema_gives_a_clear_message_and_is_left_alone(
    config: Path, imported: Path
) -> None:
    import sqlite3

    db = imported / "player.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    before = tree(imported)
    code, _, err = run(config, "status")
    assert code == EXIT_FAILURE
    assert "older than this player" in err and "systemctl restart lomuz-player" in err
    assert "internal error" not in err
    assert tree(imported) == before


def test_status_during_the_first_starts_migration_says_the_player_sets_its_database_up(
    config: Path, imported: Path
) -> None:
    """The daemon holds its run lock and has not migrated yet: no "restart the player"."""
    import fcntl
    import sqlite3

    db = imported / "player.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM alembic_version")  # what a migration in progress shows
    conn.close()
    with (imported / "run.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what the starting daemon holds
        before = tree(imported)
        code, out, err = run(config, "status", "--json")
        assert code == EXIT_OK, err
        status = json.loads(out)
        assert status["database_migrating"] is True
        assert status["database"] is None and status["daemon"] is None
        assert status["counts"]["assets"] == 0
        code, out, err = run(config, "status")
        assert code == EXIT_OK, err
        assert "setting up its database" in out
        assert "restart" not in out + err
        assert tree(imported) == before
    # Without a daemon holding the lock nobody migrates it: restart the player.
    code, _, err = run(config, "status")
    assert code == EXIT_FAILURE
    assert "systemctl restart lomuz-player" in err


# --- next: the clock the daemon uses ---------------------------------------------------


def test_next_is_never_judged_before_the_stored_clock_lower_bound(
    config: Path, imported: Path
) -> None:
    # The box's clock reset (no RTC, no network): the daemon plays at the lower bound.
    bound = datetime.now(UTC) + timedelta(days=400)
    with PlayerStore.open(imported / "player.db") as store:
        store.state.set_raw(KEY_CLOCK_LOWER_BOUND, bound.isoformat())
    code, out, _ = run(config, "next", "--json")
    assert code == EXIT_OK
    decision = json.loads(out)
    assert datetime.fromisoformat(decision["at"].replace("Z", "+00:00")) == bound
    assert decision["clock"] == "lower_bound"
    _, text, _ = run(config, "next")
    assert "lower bound" in text.splitlines()[0]


def test_next_uses_the_system_clock_when_it_is_past_the_bound(config: Path, imported: Path) -> None:
    with PlayerStore.open(imported / "player.db") as store:
        store.state.set_raw(KEY_CLOCK_LOWER_BOUND, "2025-06-01T00:00:00+00:00")
    started = datetime.now(UTC)
    _, out, _ = run(config, "next", "--json")
    decision = json.loads(out)
    at = datetime.fromisoformat(decision["at"].replace("Z", "+00:00"))
    assert started <= at <= datetime.now(UTC)
    assert decision["clock"] == "system"


@pytest.fixture
def daemon_socket(imported: Path) -> Iterator[list[Mapping[str, Any]]]:
    """A control socket answering ``status`` like a running daemon with a corrected clock."""
    requests: list[Mapping[str, Any]] = []

    def status(request: Mapping[str, Any]) -> Mapping[str, Any]:
        requests.append(request)
        return {"at": "2031-03-04T05:06:07.123456Z", "clock": {"offset_s": 7200.0}}

    server = ControlServer(imported / "control.sock", {"status": status})
    server.start()
    try:
        yield requests
    finally:
        server.close()


def test_next_asks_the_running_daemon_for_its_corrected_now(
    config: Path, daemon_socket: list[Mapping[str, Any]]
) -> None:
    code, out, _ = run(config, "next", "--json")
    assert code == EXIT_OK
    decision = json.loads(out)
    assert decision["at"] == "2031-03-04T05:06:07.123456Z"
    assert decision["clock"] == "daemon"
    assert [r["command"] for r in daemon_socket] == ["status"]


def test_next_at_is_exactly_that_instant_even_with_a_daemon(
    config: Path, daemon_socket: list[Mapping[str, Any]]
) -> None:
    _, out, _ = run(config, "next", "--at", "2026-12-01T09:00:00Z", "--json")
    assert json.loads(out)["at"] == "2026-12-01T09:00:00Z"
    assert daemon_socket == []


def test_status_shows_the_daemons_clock_offset_in_words(
    config: Path, daemon_socket: list[Mapping[str, Any]]
) -> None:
    code, out, _ = run(config, "status")
    assert code == EXIT_OK
    assert "this box is 2 h 00 min behind the API" in out
    assert "offset 7200" not in out


def test_an_unreachable_socket_is_no_daemon(config: Path, imported: Path) -> None:
    # A stale socket file nobody listens on (a killed daemon): not running, no traceback.
    (imported / "control.sock").write_bytes(b"")
    code, out, err = run(config, "status")
    assert (code, err) == (EXIT_OK, "")
    assert "not running" in out
