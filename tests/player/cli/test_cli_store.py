"""The CLI end to end on a real data dir: import a generated bundle, then next/plays/status."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lomuz_rules.model import Tier
from player.cli import EXIT_FAILURE, EXIT_OK, main
from player.core.model import Outcome, Play
from player.store.repository import PlayerStore
from tests.player.cli.bundles import manifest_for, standard_assets, write_bundle

AT = "2026-12-01T09:00:00Z"


def run(config: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[playback]\nbackend = "null"\n')
    return path


def data_snapshot(data_dir: Path) -> dict[str, str]:
    """Every file under data_dir with its hash (the SQLite WAL files included)."""
    if not data_dir.exists():
        return {}
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def test_imported_bundle_is_what_plays_next(config: Path, bundle_dir: Path) -> None:
    code, out, err = run(config, "import", str(bundle_dir))
    assert (code, err) == (EXIT_OK, "")
    assert "3 files copied" in out

    code, out, err = run(config, "next", "--at", AT, "--json")
    assert (code, err) == (EXIT_OK, "")
    decision = json.loads(out)
    ast_a = standard_assets()[0]
    assert decision["at"] == AT
    assert decision["tier"] == "playlist"
    assert decision["asset_id"] == "ast-a"
    assert decision["sha256"] == ast_a.sha256
    assert decision["schedule_id"] == "sch-1"
    assert decision["playlist_id"] == "pl-1"
    assert isinstance(decision["reasons"], list)
    assert decision["reasons"]

    code, text, _ = run(config, "next", "--at", "2026-12-01T10:00:00+01:00")
    assert code == EXIT_OK
    assert "playlist" in text
    assert "ast-a" in text


def test_next_on_an_empty_device_falls_back(config: Path, tmp_path: Path) -> None:
    code, out, _ = run(config, "next", "--at", AT, "--json")
    assert code == EXIT_OK
    assert json.loads(out)["tier"] == "jingle"
    silent = tmp_path / "silent.toml"
    silent.write_text(config.read_text() + 'fallback = "silence"\n')
    code, out, _ = run(silent, "next", "--at", AT, "--json")
    assert json.loads(out)["tier"] == "silence"
    assert json.loads(out)["asset_id"] is None


def test_tampered_bundle_exits_1_and_changes_nothing(
    config: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    # a first good import, so there is state to preserve
    assert run(config, "import", str(bundle_dir))[0] == EXIT_OK
    before_next = run(config, "next", "--at", AT, "--json")[1]

    assets = standard_assets()
    changed = manifest_for(assets, ["ast-b"], cursor="bundle-2")
    bad = write_bundle(tmp_path / "bad", assets, changed)
    victim = bad / "media" / assets[1].sha256
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    before = data_snapshot(data_dir)

    code, out, err = run(config, "import", str(bad))
    assert code == EXIT_FAILURE
    assert out == ""
    assert str(victim) in err
    assert "sha256" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert data_snapshot(data_dir) == before
    assert run(config, "next", "--at", AT, "--json")[1] == before_next
    status = json.loads(run(config, "status", "--json")[1])
    assert status["cursor"] == "bundle-1"


def test_invalid_bundle_on_a_fresh_box_creates_nothing(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"schema": 2}')
    code, _, err = run(config, "import", str(bad))
    assert code == EXIT_FAILURE
    assert "schema" in err
    assert not (tmp_path / "data").exists()


def test_plays_lists_the_local_log_newest_last(config: Path, tmp_path: Path) -> None:
    a = standard_assets()[0]
    started = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    plays = [
        Play(
            id=f"play-{i}",
            asset_id=a.id,
            sha256=a.sha256,
            started_at=started + timedelta(minutes=i),
            ended_at=started + timedelta(minutes=i, seconds=30),
            source=Tier.EMERGENCY,
            outcome=Outcome.COMPLETED,
        )
        for i in range(3)
    ]
    with PlayerStore.open(tmp_path / "data" / "player.db") as store:
        for play in plays:
            store.outbox.record_play(play)
        store.outbox.mark_plays_uploaded(["play-0"])

    code, out, _ = run(config, "plays", "--json")
    assert code == EXIT_OK
    listed = json.loads(out)
    assert [p["id"] for p in listed] == ["play-0", "play-1", "play-2"]
    assert [p["uploaded"] for p in listed] == [True, False, False]
    assert listed[0]["started_at"] == "2026-12-01T09:00:00Z"
    assert listed[0]["source"] == "emergency"

    code, out, _ = run(config, "plays", "--limit", "1", "--json")
    assert [p["id"] for p in json.loads(out)] == ["play-2"]
    code, text, _ = run(config, "plays")
    assert text.count("\n") == 3
    assert "pending" in text


def test_status_shows_the_local_state(config: Path, bundle_dir: Path) -> None:
    code, out, _ = run(config, "status", "--json")
    assert code == EXIT_OK
    empty = json.loads(out)
    assert empty["device"] is None
    assert empty["cursor"] is None
    assert empty["enrolled"] is False

    run(config, "import", str(bundle_dir))
    code, out, _ = run(config, "status", "--json")
    status = json.loads(out)
    assert status["device"]["id"] == "dev-1"
    assert status["cursor"] == "bundle-1"
    assert status["cache"]["files"] == 3
    assert status["counts"]["assets"] == 3
    assert status["counts"]["files_present"] == 3
    assert status["outbox_plays"] == 0
    assert status["dropped_plays"] == 0
    assert status["quarantined_files"] == []

    code, text, _ = run(config, "status")
    assert code == EXIT_OK
    assert "dev-1" in text
    assert "bundle-1" in text


def test_console_script_import_and_next(config: Path, bundle_dir: Path) -> None:
    script = Path(sys.executable).parent / "lomuz-player"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_PLAYER_")}
    env["LOMUZ_PLAYER_CONFIG"] = str(config)
    done = subprocess.run(
        [str(script), "import", str(bundle_dir)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [str(script), "next", "--at", AT, "--json"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["asset_id"] == "ast-a"


def test_tampered_bundle_on_a_fresh_box_creates_nothing(
    config: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    victim = sorted((bundle_dir / "media").iterdir())[0]
    victim.write_bytes(victim.read_bytes() + b"x")
    code, _, err = run(config, "import", str(bundle_dir))
    assert code == EXIT_FAILURE
    assert victim.name in err
    assert not (tmp_path / "data").exists()
