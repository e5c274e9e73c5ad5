"""The control unit's own command lines, run for real on loopback.

ExecStartPre and ExecStart are taken from systemd/lomuz-control.service, their
``${VAR}`` references expanded from the unit's Environment= lines (overridden
as /etc/lomuz/control.env would), and /opt/lomuz/control/bin swapped for this
checkout's venv: a typo in the granian flags or the WSGI target fails here.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.ops.conftest import control_unit_environ, control_unit_running


def test_control_unit_migrates_then_serves_healthz(tmp_path: Path) -> None:
    environ = control_unit_environ(tmp_path, LOMUZ_HTTP_WORKERS="1")
    url = f"http://127.0.0.1:{environ['LOMUZ_HTTP_PORT']}/healthz"
    with control_unit_running(environ) as server:
        assert (tmp_path / "control.db").is_file()
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
