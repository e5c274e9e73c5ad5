"""The control unit's own command lines, run for real on loopback.

ExecStartPre and ExecStart are taken from systemd/lomuz-control.service, their
``${VAR}`` references expanded from the unit's Environment= lines (overridden
as /etc/lomuz/control.env would), and /opt/lomuz/control/bin swapped for this
checkout's venv: a typo in the granian flags or the WSGI target fails here.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.netutil import free_port
from tests.ops.conftest import UNITS, parse_unit, unit_command


def test_control_unit_migrates_then_serves_healthz(tmp_path: Path) -> None:
    service = parse_unit(UNITS / "lomuz-control.service")["Service"]
    environ = dict(os.environ)
    for assignment in service["Environment"]:
        key, _, value = assignment.partition("=")
        environ[key] = value
    # What an operator's control.env would override.
    environ.update(
        LOMUZ_DATABASE_URL=f"sqlite:///{tmp_path / 'control.db'}",
        LOMUZ_MEDIA_DIR=str(tmp_path / "media"),
        LOMUZ_HTTP_PORT=str(free_port()),
        LOMUZ_HTTP_WORKERS="1",
        # The unit's RuntimeDirectory is systemd's to make; here a private one.
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    (tmp_path / "metrics").mkdir()

    (pre,) = service["ExecStartPre"]
    migrated = subprocess.run(
        unit_command(pre, environ), env=environ, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "control.db").is_file()

    (start,) = service["ExecStart"]
    server = subprocess.Popen(
        unit_command(start, environ), env=environ,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{environ['LOMUZ_HTTP_PORT']}/healthz"
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert server.poll() is None, "granian exited early"
        assert response is not None, "no answer within 30 s"
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert server.returncode is not None, stderr
