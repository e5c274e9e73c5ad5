"""The daemon's POSIX signals: SIGTERM/SIGINT ask it to stop (the current play is
recorded as skipped, pending plays get one bounded upload attempt), SIGHUP asks
for a sync now.

The handlers only set events; the main thread acts on them (signal handlers
run between bytecodes of the main thread, so they must not take locks).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


def install_signals(stop_event: threading.Event, sync_now: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop_event``, SIGHUP ``sync_now`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop_event.set()

    def hup(_signum: int, _frame: FrameType | None) -> None:
        sync_now.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, hup)
