"""The processes a push-fleet measurement runs against, each started and always ended.

- :func:`broker`: a private Mosquitto on a free loopback port (anonymous, its
  own config in a temporary directory, ``max_connections`` above the fleet).
- :func:`fresh_postgres`: a database ``lomuz_fleet_<pid>`` created on a
  PostgreSQL server and dropped at the end (never an existing one).
- :func:`api_server`: ``lomuz-control db upgrade``, then granian as the
  packaged unit runs it (``systemd/lomuz-control.service``: ASGI, uvloop,
  ``--workers``, the same backpressure and timeouts), with ``LOMUZ_MQTT_URL``
  on the broker and a ``/metrics`` token.
- :class:`ProcessSampler`: VmRSS/VmHWM and CPU seconds of a process tree,
  read from /proc.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

VENV_BIN = Path(sys.executable).parent
STOP_WAIT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s} s")
        time.sleep(0.1)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_WAIT_S)


@dataclass(frozen=True)
class Running:
    url: str
    port: int
    pid: int


@contextlib.contextmanager
def broker(workdir: Path, max_connections: int) -> Iterator[Running]:
    """A private anonymous Mosquitto on loopback; its log is ``workdir/mosquitto.log``."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"max_connections {max_connections}\n"
        "persistence false\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\n",
        encoding="utf-8",
    )
    # stderr, not a log file: run as root, mosquitto drops to its own user first.
    with (workdir / "mosquitto.log").open("wb") as log:
        proc = subprocess.Popen([exe, "-c", str(config)], stdout=log, stderr=log, cwd=workdir)
    try:
        _wait_port(port, proc, 10, "mosquitto")
        yield Running(f"mqtt://127.0.0.1:{port}", port, proc.pid)
    finally:
        _end(proc)


def _psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """A new database on the server of ``server_url``; yields its SQLAlchemy URL, then drops it."""
    import psycopg

    name = f"lomuz_fleet_{os.getpid()}"
    base, _, _ = server_url.rpartition("/")
    with psycopg.connect(_psycopg_url(server_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_psycopg_url(server_url), autocommit=True, connect_timeout=10) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass(frozen=True)
class ApiServer:
    url: str
    pid: int
    metrics_token: str
    database_url: str


def api_env(database_url: str, mqtt_url: str, workdir: Path) -> dict[str, str]:
    prom = workdir / "prometheus"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    return {
        **os.environ,
        "LOMUZ_DATABASE_URL": database_url,
        "LOMUZ_MEDIA_DIR": str(workdir / "media"),
        "LOMUZ_MQTT_URL": mqtt_url,
        "LOMUZ_METRICS_TOKEN": secrets.token_urlsafe(24),
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "LOMUZ_CONTROL_ENV": "",
    }


@contextlib.contextmanager
def api_server(env: dict[str, str], workers: int, workdir: Path) -> Iterator[ApiServer]:
    """The control API under granian as the packaged unit starts it (migrated first)."""
    subprocess.run(
        [str(VENV_BIN / "lomuz-control"), "db", "upgrade"],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    cmd = [
        str(VENV_BIN / "granian"), "--interface", "asgi", "--loop", "uvloop", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--backpressure", "1024", "--backlog", "1024",
        "--http1-header-read-timeout", "10000", "--log-level", "warning",
        "control_api.asgi:create",
    ]  # fmt: skip
    log_path = workdir / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {log_path}")
            time.sleep(0.2)
        yield ApiServer(url, proc.pid, env["LOMUZ_METRICS_TOKEN"], env["LOMUZ_DATABASE_URL"])
    finally:
        _end(proc)


def _status_kb(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class ProcessSampler:
    """RSS now, its highest sample, the kernel's VmHWM, and CPU seconds of a process tree."""

    def __init__(self, pid: int, *, children: bool = True) -> None:
        self._root = psutil.Process(pid)
        self._children = children
        self.peak_rss_kb = 0

    def _tree(self) -> list[psutil.Process]:
        if not self._children:
            return [self._root]
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    def rss_kb(self) -> int:
        now = sum(_status_kb(p.pid, "VmRSS") for p in self._tree())
        self.peak_rss_kb = max(self.peak_rss_kb, now)
        return now

    def hwm_kb(self) -> list[int]:
        """Each process's VmHWM (its own highest RSS), root first."""
        return [_status_kb(p.pid, "VmHWM") for p in self._tree()]

    def processes(self) -> int:
        return len(self._tree())

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total
