"""The syncs the daemon runs besides the sync job: at boot, on SIGHUP, on an
enrollment (the main thread's ``serve``) and on `lomuz-player sync` (the
control socket), each answered with one JSON-able reply.

A sync is a loop boundary: its errors become the reply (``ok: false``) and
the daemon lives on. Called from the main thread, the control thread and the
jobs' worker; the syncer serialises the syncs themselves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from player.errors import PlayerError
from player.jsonable import plain
from player.runtime.daemon_parts import DaemonParts

log = logging.getLogger(__name__)


class SyncRequests:
    """Runs one sync on request; ``interval_changed`` hears each sync's ``sync_interval_s``.

    ``requested`` is set for a sync now (SIGHUP sets it); ``nudge()`` asks for a
    fresh one (a push nudge: past the API's revision cache). Each sync that went
    well is followed by the remote commands' pick-up.
    """

    def __init__(
        self,
        parts: DaemonParts,
        *,
        interval_changed: Callable[[int | None], None],
    ) -> None:
        self._parts = parts
        self._interval_changed = interval_changed
        self.requested = threading.Event()
        self._fresh = threading.Event()

    def nudge(self) -> None:
        """From the nudges' thread: the main thread runs one fresh sync."""
        self._fresh.set()
        self.requested.set()

    def serve(self, stop: threading.Event, *, reconnect: Callable[[], bool]) -> None:
        """The main thread's work until ``stop``: a sync at boot when enrolled, one per
        request (fresh when a nudge asked), one whenever ``reconnect()`` (asked every
        second) built a new network side."""
        if self._parts.network is not None and not stop.is_set():
            self.run("boot")
        while not stop.is_set():
            if self.requested.wait(1.0):
                self.requested.clear()
                fresh = self._fresh.is_set()
                self._fresh.clear()
                self.run("nudge" if fresh else "requested", fresh=fresh)
            if reconnect():
                self.run("enrolled")

    def run(self, why: str, *, fresh: bool = False) -> dict[str, Any]:
        """One sync now (``why`` is for the log; ``fresh`` past the API's revision
        cache); the reply says how it went."""
        network = self._parts.network
        if network is None:
            return {"ok": False, "error": "not enrolled"}
        try:
            outcome = network.syncer.sync_once(fresh=fresh)
        except PlayerError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # job boundary: log and keep the daemon alive
            log.exception("sync (%s): unexpected error", why)
            return {"ok": False, "error": repr(exc)}
        self._interval_changed(outcome.sync_interval_s)
        network.pick_up_commands()
        return {"ok": True, "sync": outcome.as_json()}

    def control(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """`lomuz-player sync`: a sync, then the downloads retried (and waited for up to
        ``download_wait_s``)."""
        started_mono = self._parts.clock.monotonic()
        reply = self.run("cli")
        network = self._parts.network
        if network is not None and reply.get("ok"):
            downloads = network.downloads
            downloads.retry_now()
            wait_s = float(request.get("download_wait_s", 0) or 0)
            if wait_s > 0:
                reply["downloads_idle"] = downloads.wait_idle(wait_s)
            reply["downloads"] = plain(downloads.status())
            reply["downloaded"] = downloads.downloaded_since(started_mono)
        return reply
