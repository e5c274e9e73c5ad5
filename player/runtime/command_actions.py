"""What each remote command does on this player (``player.runtime.commands`` runs them).

- ``sync``: one fresh sync (past the API's revision cache), run by the daemon's
  ``SyncRequests`` from the commands' thread (the syncer serialises syncs);
  done once it finished, with its cursor and whether anything changed.
- ``skip``: the playback loop skips the current item (recorded ``skipped``).
- ``volume``: the output's master volume, set on the playback thread. It holds
  until the daemon restarts, which applies ``[playback] volume`` again.
- ``restart_playback``: the loop stops every item (the current one recorded
  ``skipped``) and its output, and decides afresh.
- ``snapshot``: what plays now (``player.core.commands.snapshot``).
Loop work is queued on the loop's inbox and waited for up to
:data:`LOOP_ANSWER_S`; a loop that does not answer fails the command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from player.core import commands as rules
from player.ports import MediaOutput
from player.runtime.commands import CommandError

if TYPE_CHECKING:
    from player.runtime.playback import PlaybackLoop

LOOP_ANSWER_S = 5.0


class PlayerCommandActions:
    """Implements ``player.runtime.commands.CommandActions``; thread-safe."""

    def __init__(
        self,
        loop: Callable[[], PlaybackLoop],
        output: Callable[[], MediaOutput],
        *,
        sync: Callable[[], Mapping[str, Any]],
        titles: Callable[[], Mapping[str, str]],
        now: Callable[[], datetime],
        volume_percent: int,
    ) -> None:
        self._loop = loop
        self._output = output
        self._sync = sync
        self._titles = titles
        self._now = now
        self._lock = threading.Lock()
        self._volume_percent = volume_percent

    def sync(self) -> dict[str, Any]:
        reply = self._sync()
        if not reply.get("ok"):
            raise CommandError(str(reply.get("error") or "the sync failed"))
        outcome = reply.get("sync") or {}
        return {"cursor": outcome.get("cursor"), "changed": outcome.get("changed")}

    def skip(self) -> dict[str, Any]:
        loop = self._loop()
        skipped = loop.now_playing().asset_id
        loop.request_skip()
        self._wait_for_loop(lambda: None)
        return {"skipped_asset_id": skipped}

    def set_volume(self, percent: int) -> dict[str, Any]:
        output = self._output()
        self._wait_for_loop(lambda: output.set_volume(percent))
        with self._lock:
            self._volume_percent = percent
        return {"volume": percent}

    def restart_playback(self) -> dict[str, Any]:
        loop = self._loop()
        stopped = loop.now_playing().asset_id
        loop.request_restart()
        self._wait_for_loop(lambda: None)
        return {"restarted": True, "stopped_asset_id": stopped}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            volume = self._volume_percent
        try:
            titles = self._titles()
        except Exception:  # a title is a nicety: the store may be busy
            titles = {}
        return rules.snapshot(
            self._loop().now_playing(), now=self._now(), titles=titles, volume_percent=volume
        )

    def _wait_for_loop(self, fn: Callable[[], None]) -> None:
        call = self._loop().call(fn)
        if not call.wait(LOOP_ANSWER_S):
            raise CommandError(f"the playback loop did not answer within {LOOP_ANSWER_S:.0f} s")
        if call.error is not None:
            raise CommandError(f"{type(call.error).__name__}: {call.error}")
