"""The daemon's control socket: how `lomuz-player sync` and `status` reach a running daemon.

A Unix stream socket in the data directory (mode 0600: only the player's user
and root). One JSON object per line each way: ``{"command": "sync"}`` →
``{"ok": true, ...}``. Handlers run on the socket's thread, one request at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from player.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]
_MAX_REQUEST_BYTES = 64 * 1024


def control_socket_path(settings: Settings) -> Path:
    """Where the daemon listens and the CLI asks (in ``data_dir``)."""
    return settings.data_dir / "control.sock"


class ControlServer:
    """Serves ``handlers`` by command name on ``path`` until ``close()``."""

    def __init__(self, path: Path, handlers: Mapping[str, Handler]) -> None:
        self._path = path
        self._handlers = dict(handlers)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        # A socket file left by a killed daemon would make bind fail.
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self._path))
        finally:
            os.umask(old_umask)
        sock.listen(4)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                try:
                    self._answer(conn)
                except Exception:  # socket boundary: one bad request must not end the server
                    log.exception("control: request failed")

    def _answer(self, conn: socket.socket) -> None:
        raw = b""
        while not raw.endswith(b"\n") and len(raw) < _MAX_REQUEST_BYTES:
            chunk = conn.recv(4096)
            if not chunk:
                break
            raw += chunk
        try:
            request = json.loads(raw)
            command = request["command"]
            handler = self._handlers[command]
        except (ValueError, KeyError, TypeError):
            reply: Mapping[str, Any] = {"ok": False, "error": "unknown or malformed request"}
        else:
            try:
                reply = handler(request)
            except Exception as exc:  # handler boundary: the caller gets the error, not silence
                log.exception("control: %s failed", command)
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        conn.sendall(json.dumps(reply, default=str).encode() + b"\n")


def ask_daemon(
    path: Path, command: str, timeout_s: float = 10.0, **fields: Any
) -> dict[str, Any] | None:
    """Send a command to a running daemon; None when no daemon listens on ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        sock.sendall(json.dumps({"command": command, **fields}).encode() + b"\n")
        raw = b""
        while not raw.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    finally:
        sock.close()
    reply = json.loads(raw) if raw else {"ok": False, "error": "no reply"}
    if not isinstance(reply, dict):
        return {"ok": False, "error": "malformed reply"}
    return reply
