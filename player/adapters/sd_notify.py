"""systemd notification protocol (sd_notify(3)) over a datagram socket, stdlib only.

The unit runs the player as ``Type=notify`` with ``WatchdogSec=``: the daemon
calls :meth:`SdNotifier.ready` once playback has started, and the playback loop
calls :meth:`SdNotifier.watchdog` at least every ``watchdog_interval_s() / 2``
seconds. Without ``NOTIFY_SOCKET`` (run by hand, in tests) every call is a
no-op, so callers never need to check. Sending never raises: a lost
notification must not stop playback (systemd's watchdog is the judge).
Thread-safe: each call is one ``sendto`` on a socket opened for it, except
:meth:`SdNotifier.heartbeat`, which remembers the last ``STATUS=`` line and is
called from one thread (the playback loop's).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_S = 10.0


class SdNotifier:
    """Sends state lines to the systemd notification socket, if there is one."""

    def __init__(self, address: str | bytes | None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._failed = False
        self._last_status = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> SdNotifier:
        """Build from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

        A leading ``@`` means the Linux abstract namespace. The watchdog applies
        only when ``WATCHDOG_PID`` is unset or equals ``pid`` (default: ours), as
        sd_watchdog_enabled(3) specifies.
        """
        raw = environ.get("NOTIFY_SOCKET", "")
        address: str | bytes | None
        if not raw:
            address = None
        elif raw.startswith("@"):
            address = b"\0" + raw[1:].encode()
        else:
            address = raw
        return cls(address, _watchdog_usec(environ, os.getpid() if pid is None else pid))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def watchdog_interval_s(self) -> float | None:
        """The watchdog timeout in seconds, or None when no watchdog is armed."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1_000_000

    def heartbeat_interval_s(self) -> float:
        """How often to ping: a third of the watchdog timeout, at most every 10 s."""
        watchdog_s = self.watchdog_interval_s()
        return min(DEFAULT_HEARTBEAT_S, watchdog_s / 3) if watchdog_s else DEFAULT_HEARTBEAT_S

    def heartbeat(self, status_line: str) -> None:
        """Ping the watchdog, and send ``STATUS=`` when ``status_line`` changed."""
        self.watchdog()
        if status_line != self._last_status:
            self._last_status = status_line
            self.status(status_line)

    def ready(self) -> bool:
        return self.notify("READY=1")

    def status(self, text: str) -> bool:
        """Free-form one-line status shown by ``systemctl status``."""
        return self.notify("STATUS=" + text.replace("\n", " "))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def notify(self, state: str) -> bool:
        """Send ``state`` (newline-separated assignments); True when it was sent."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(state.encode(), self._address)
        except OSError as exc:
            # Logged once per transition: a dead socket would otherwise log at
            # every watchdog ping, for weeks.
            if not self._failed:
                log.warning("sd_notify to %r failed: %s", self._address, exc)
                self._failed = True
            return False
        if self._failed:
            log.info("sd_notify works again")
            self._failed = False
        return True


def _watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    raw_usec = environ.get("WATCHDOG_USEC", "")
    if not raw_usec:
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        return None
    if usec <= 0:
        return None
    raw_pid = environ.get("WATCHDOG_PID", "")
    if raw_pid:
        try:
            if int(raw_pid) != pid:
                return None
        except ValueError:
            return None
    return usec
