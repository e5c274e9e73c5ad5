"""The CLI's configuration, usage and error paths (no database needed)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from player.cli import EXIT_CONFIG, EXIT_OK, EXIT_USAGE, main

VENV_BIN = Path(sys.executable).parent


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ=env or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(text)
    return path


def test_bad_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[playback]\nvolume = "loud"\n')
    code, out, err = run(["--config", str(cfg), "config"])
    assert code == EXIT_CONFIG
    assert out == ""
    assert 'playback.volume: must be an integer 0..100, got "loud"' in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_bad_environment_override_exits_78(tmp_path: Path) -> None:
    code, _, err = run(
        ["--config", str(tmp_path / "none.toml"), "config"],
        {"LOMUZ_PLAYER_PLAYBACK_BACKEND": "alsa"},
    )
    assert code == EXIT_CONFIG
    assert "playback.backend" in err
    assert "LOMUZ_PLAYER_PLAYBACK_BACKEND" in err


def test_config_shows_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    token = "dtk_" + "s3cr3t" * 8
    (data_dir / "credentials.json").write_text(
        json.dumps({"device_id": "dev-1", "device_token": token})
    )
    cfg = write_config(
        tmp_path,
        f'data_dir = "{data_dir}"\n[api]\nurl = "https://u:pw-secret@control.example"\n',
    )
    code, out, err = run(
        ["--config", str(cfg), "config", "--json"], {"LOMUZ_PLAYER_PLAYBACK_VOLUME": "30"}
    )
    assert (code, err) == (EXIT_OK, "")
    shown = json.loads(out)
    assert shown["source"] == str(cfg)
    assert shown["playback"]["volume"] == 30
    assert shown["paths"]["db"] == str(data_dir / "player.db")
    assert shown["credentials"]["device_id"] == "dev-1"
    assert shown["credentials"]["device_token"].startswith("****")
    assert "s3cr3t" not in out
    assert "pw-secret" not in out

    code, text, _ = run(["--config", str(cfg), "config"])
    assert code == EXIT_OK
    assert "[playback]" in text
    assert "volume = 100" in text
    assert "# textfile_dir is unset" in text
    assert "s3cr3t" not in text
    assert "pw-secret" not in text


def test_missing_config_file_means_defaults(tmp_path: Path) -> None:
    code, out, _ = run(["--config", str(tmp_path / "absent.toml"), "config", "--json"])
    assert code == EXIT_OK
    shown = json.loads(out)
    assert shown["source"] is None
    assert shown["sync"]["interval_s"] == 600


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["next", "--at", "tomorrow"], ["plays", "--limit", "0"], ["import"]],
)
def test_usage_errors_exit_2(tmp_path: Path, argv: list[str]) -> None:
    code, out, err = run(["--config", str(tmp_path / "absent.toml"), *argv])
    assert code == EXIT_USAGE
    assert out == ""
    assert err.strip()
    assert "Traceback" not in err


def test_usage_error_for_bad_instant_names_it(tmp_path: Path) -> None:
    cfg = tmp_path / "absent.toml"
    _, _, err = run(["--config", str(cfg), "next", "--at", "2026-12-01T09:00:00"])
    assert "--at" in err
    assert "RFC 3339" in err


def test_console_script_version_and_exit_code(tmp_path: Path) -> None:
    script = VENV_BIN / "lomuz-player"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_PLAYER_")}
    done = subprocess.run(
        [str(script), "--version"], check=False, capture_output=True, text=True, env=env, timeout=30
    )
    assert done.returncode == 0
    assert done.stdout.startswith("lomuz-player ")
    bad = write_config(tmp_path, "[sync]\ninterval_s = 0\n")
    done = subprocess.run(
        [str(script), "--config", str(bad), "config"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert done.returncode == EXIT_CONFIG
    assert "sync.interval_s" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_text_output_is_a_loadable_config(tmp_path: Path) -> None:
    from dataclasses import replace

    from player.settings import load_settings

    cfg = write_config(
        tmp_path,
        f'data_dir = "{tmp_path}"\n[playback]\nvolume = 7\naudio_output = "pulse"\n'
        "[downloads]\nmax_cache_bytes = 5000\n"
        "[audio]\ntarget_lufs = -16\njingle_offset_db = -2.5\n",
    )
    code, text, _ = run(["--config", str(cfg), "config"])
    assert code == EXIT_OK
    assert "\n[audio]\ntarget_lufs = -16.0\nmax_true_peak_dbtp = -1.0\n" in text
    echoed = tmp_path / "echoed.toml"
    echoed.write_text(text)
    original = load_settings(cfg, {})
    assert replace(load_settings(echoed, {}), source=cfg) == original


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('target_lufs = "-18"', 'audio.target_lufs: must be a number -40..-5, got "-18"'),
        ("max_true_peak_dbtp = 3.0", "audio.max_true_peak_dbtp: must be a number -20..0, got 3.0"),
        ("max_boost_db = 30", "audio.max_boost_db: must be a number 0..18.06, got 30"),
        ("jingle_offset_db = nan", "audio.jingle_offset_db: must be a number -20..20, got nan"),
        ("loudness = 1", "audio.loudness: unknown setting"),
    ],
)
def test_a_bad_audio_setting_exits_78_naming_it(tmp_path: Path, line: str, message: str) -> None:
    cfg = write_config(tmp_path, f"[audio]\n{line}\n")
    code, _, err = run(["--config", str(cfg), "config"])
    assert code == EXIT_CONFIG
    assert message in err


def test_audio_settings_come_from_the_environment_too(tmp_path: Path) -> None:
    code, out, _ = run(
        ["--config", str(tmp_path / "none.toml"), "config", "--json"],
        {"LOMUZ_PLAYER_AUDIO_TARGET_LUFS": "-23", "LOMUZ_PLAYER_AUDIO_EMERGENCY_OFFSET_DB": "4.5"},
    )
    assert code == EXIT_OK
    audio = json.loads(out)["audio"]
    assert audio == {
        "target_lufs": -23.0,
        "max_true_peak_dbtp": -1.0,
        "max_boost_db": 12.0,
        "override_offset_db": 0.0,
        "emergency_offset_db": 4.5,
        "jingle_offset_db": 0.0,
    }
