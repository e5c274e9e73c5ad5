"""Logs journald can filter, and a daemon that keeps playing with unreadable credentials.

Field findings: under systemd every player line was stored at priority 6
(``journalctl -p warning`` showed no ERROR) and a traceback became ~16 journal
entries; a credentials file the daemon could not read made ``run`` exit 78,
which systemd never restarts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from player.cli import syslog_priority

EMIT = textwrap.dedent(
    """\
    import logging
    import os

    from player.cli import configure_logging
    from player.settings import Settings

    configure_logging(Settings(), os.environ)
    log = logging.getLogger("player.field")
    try:
        raise RuntimeError("disk on fire\\nsecond line")
    except RuntimeError:
        log.exception("sync failed: %s", "twice")
    log.warning("clock stepped %+.1f s", 3.0)
    log.info("started")
    log.debug("not at INFO")
    log.critical("out of memory")
    """
)


def run_emit(tmp_path: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    script = tmp_path / "emit.py"
    script.write_text(EMIT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOMUZ_", "JOURNAL_"))}
    return subprocess.run(
        [sys.executable, str(script)],
        env={**env, **environ},
        capture_output=True,
        timeout=60,
        check=True,
    )


def test_under_systemd_each_record_is_one_prefixed_line(tmp_path: Path) -> None:
    done = run_emit(tmp_path, {"JOURNAL_STREAM": "1:1"})
    script = tmp_path / "emit.py"
    expected = (
        b"<3>ERROR player.field: sync failed: twice"
        b" | Traceback (most recent call last):"
        b' |   File "' + str(script).encode() + b'", line 10, in <module>'
        b' |     raise RuntimeError("disk on fire\\nsecond line")'
        b" | RuntimeError: disk on fire | second line\n"
        b"<4>WARNING player.field: clock stepped +3.0 s\n"
        b"<6>INFO player.field: started\n"
        b"<2>CRITICAL player.field: out of memory\n"
    )
    assert done.stderr == expected
    assert done.stdout == b""


def test_on_a_terminal_lines_keep_timestamps_and_tracebacks(tmp_path: Path) -> None:
    done = run_emit(tmp_path, {})
    text = done.stderr.decode()
    assert "<3>" not in text
    assert "\nTraceback (most recent call last):\n" in text
    first = text.splitlines()[0]
    assert first[:4].isdigit() and " ERROR player.field: sync failed: twice" in first


@pytest.mark.parametrize(
    ("level", "priority"), [(50, 2), (40, 3), (30, 4), (20, 6), (10, 7), (5, 7)]
)
def test_syslog_priorities(level: int, priority: int) -> None:
    assert syslog_priority(level) == priority


# --- run with credentials it cannot read ---------------------------------------------


def _can_drop_read_override() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.mark.skipif(
    not _can_drop_read_override(), reason="needs root and setpriv to make a file unreadable"
)
def test_run_with_unreadable_credentials_logs_the_fix_and_keeps_playing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    credentials = data_dir / "credentials.json"
    credentials.write_text(
        '{"api_url": "http://127.0.0.1:9", "device_id": "d", "device_token": "t"}'
    )
    # Owned by someone else, 0600: what root-run enroll left for the lomuz daemon.
    os.chown(credentials, 65534, 65534)
    credentials.chmod(0o600)
    config = tmp_path / "player.toml"
    config.write_text(f'data_dir = "{data_dir}"\n[playback]\nbackend = "null"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOMUZ_", "NOTIFY_"))}
    env.update({"LOMUZ_PLAYER_CONFIG": str(config), "JOURNAL_STREAM": "1:1"})
    # Root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH reads files like any user.
    proc = subprocess.Popen(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search",
            sys.executable,
            "-m",
            "player.cli",
            "run",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (data_dir / "control.sock").exists():
            assert proc.poll() is None, proc.communicate()[1].decode()
            time.sleep(0.1)
        assert (data_dir / "control.sock").exists(), "the daemon never came up"
        assert proc.poll() is None  # still running: not exit 78
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    lines = stderr.decode().splitlines()
    errors = [line for line in lines if line.startswith("<3>")]
    assert len(errors) == 1, lines
    assert str(credentials) in errors[0]
    assert "Permission denied" in errors[0]
    assert f"chown lomuz:lomuz {credentials}" in errors[0]
    assert all(line.startswith("<") for line in lines), lines
