"""The daemon's control socket: a real Unix socket in tmp_path."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from player.runtime.control import ControlServer, ask_daemon


def echo(request: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"ok": True, "echo": dict(request)}


def explode(_request: Mapping[str, Any]) -> Mapping[str, Any]:
    raise RuntimeError("handler broke")


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "c.sock"


@pytest.fixture
def server(sock_path: Path) -> Iterator[ControlServer]:
    served = ControlServer(sock_path, {"echo": echo, "explode": explode})
    served.start()
    yield served
    served.close()


def test_round_trip_carries_the_fields(server: ControlServer, sock_path: Path) -> None:
    reply = ask_daemon(sock_path, "echo", timeout_s=5, download_wait_s=3)
    assert reply == {"ok": True, "echo": {"command": "echo", "download_wait_s": 3}}
    assert ask_daemon(sock_path, "echo", timeout_s=5) is not None  # serves again


def test_unknown_command_is_refused(server: ControlServer, sock_path: Path) -> None:
    reply = ask_daemon(sock_path, "reboot", timeout_s=5)
    assert reply is not None and reply["ok"] is False
    assert "unknown" in reply["error"]


@pytest.mark.parametrize("raw", [b"not json\n", b"[1, 2]\n", b'{"command": ["x"]}\n', b"\n"])
def test_malformed_requests_get_an_error_and_the_server_survives(
    server: ControlServer, sock_path: Path, raw: bytes
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(sock_path))
        conn.sendall(raw)
        assert b'"ok": false' in conn.recv(4096)
    assert ask_daemon(sock_path, "echo", timeout_s=5) is not None


def test_a_failing_handler_answers_an_error(server: ControlServer, sock_path: Path) -> None:
    reply = ask_daemon(sock_path, "explode", timeout_s=5)
    assert reply is not None and reply["ok"] is False
    assert "handler broke" in reply["error"]
    assert ask_daemon(sock_path, "echo", timeout_s=5) is not None


def test_socket_is_private(server: ControlServer, sock_path: Path) -> None:
    mode = os.stat(sock_path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_no_daemon_means_none(sock_path: Path) -> None:
    assert ask_daemon(sock_path, "status", timeout_s=1) is None


def test_a_dead_daemons_socket_means_none_and_is_replaced(sock_path: Path) -> None:
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(sock_path))
    leftover.close()  # killed without unlinking: the file stays, nobody listens
    assert sock_path.exists()
    assert ask_daemon(sock_path, "status", timeout_s=1) is None

    served = ControlServer(sock_path, {"echo": echo})
    served.start()
    try:
        assert ask_daemon(sock_path, "echo", timeout_s=5) == {
            "ok": True,
            "echo": {"command": "echo"},
        }
    finally:
        served.close()
    assert not sock_path.exists()


def test_close_removes_the_socket(sock_path: Path) -> None:
    served = ControlServer(sock_path, {"echo": echo})
    served.start()
    served.close()
    assert not sock_path.exists()
    assert ask_daemon(sock_path, "echo", timeout_s=1) is None
