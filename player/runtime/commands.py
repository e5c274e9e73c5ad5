"""Remote commands: take them from the push link or the HTTP pick-up, run each id once,
acknowledge over HTTP.

``on_payload`` is called from the push link's thread with whatever arrived on
the commands topic and ``pick_up`` after each sync (the daemon's hook); both
only queue and return. The one worker thread then, per command:
1. drops it when the corrected clock is past its ``expires_at`` (never run);
2. acknowledges ``delivered`` (a refusal, 404 or 409 expired/finished, means
   the API will not have it run: it is dropped; an API that cannot be reached
   does not stop it, the broker delivered it);
3. runs it through the :class:`CommandActions` (the daemon's sync, the playback
   loop, the output), off the network thread;
4. remembers its id (``player.core.commands``: in memory and in the device
   state, so a restart does not run it again), then acknowledges ``done`` with
   the result or ``failed`` with ``{"error": text}``, retried a few times.
Anything on the topic that is not a command is ignored with one log line (at
most one a minute: a flood costs a JSON decode per message of at most
``MAX_COMMAND_BYTES``, and a bounded queue). Thread-safe; ``stop()`` joins.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from lomuz_rules.commands import AckState, CommandMessage, decode_command, parse_command
from player.core import commands as rules
from player.errors import ApiProtocolError, PlayerError

log = logging.getLogger(__name__)

MAX_QUEUED = 64
ACK_ATTEMPTS = 3
ACK_RETRY_S = 1.0
IGNORED_LOG_INTERVAL_S = 60.0


class CommandError(Exception):
    """A command that could not be carried out; the text goes to the API as its error."""


class CommandActions(Protocol):
    """What the commands do (``player.runtime.command_actions``); each returns the result."""

    def sync(self) -> dict[str, Any]: ...

    def skip(self) -> dict[str, Any]: ...

    def set_volume(self, percent: int) -> dict[str, Any]: ...

    def restart_playback(self) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any]: ...


class _PickUp:
    pass


_PICK_UP = _PickUp()
_STOP = object()


class RemoteCommands:
    """Runs remote commands one at a time on its own thread, each id at most once."""

    def __init__(
        self,
        actions: CommandActions,
        *,
        fetch_open: Callable[[], Sequence[object]],
        acknowledge: Callable[[str, AckState, Mapping[str, Any] | None], object],
        now: Callable[[], datetime],
        load_run_ids: Callable[[], str | None],
        save_run_ids: Callable[[str], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._actions = actions
        self._fetch_open = fetch_open
        self._acknowledge = acknowledge
        self._now = now
        self._load_run_ids = load_run_ids
        self._save_run_ids = save_run_ids
        self._monotonic = monotonic
        self._queue: queue.Queue[object] = queue.Queue(MAX_QUEUED + 2)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._unfinished = 0  # queued items not yet handled
        self._run_ids: list[str] = []  # oldest first, bounded (player.core.commands)
        self._run_set: set[str] = set()
        self._in_flight: set[str] = set()  # queued or running
        self._pick_up_queued = False
        self._ignored_logged_mono: float | None = None
        self._stopping = threading.Event()
        self.executed = 0  # commands run so far (tests, status)
        self._thread = threading.Thread(target=self._run, name="lomuz-commands", daemon=True)

    def start(self) -> None:
        try:
            stored = self._load_run_ids()
        except PlayerError as exc:  # the store is busy: redeliveries may run again
            log.warning("commands: cannot read the ids already run: %s", exc)
            stored = None
        with self._lock:
            self._run_ids = rules.decode_run_ids(stored)
            self._run_set = set(self._run_ids)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(queue.Full):  # the worker sees _stopping after its command
            self._queue.put_nowait(_STOP)
        if self._thread.is_alive():
            self._thread.join(10.0)

    # -- other threads -----------------------------------------------------------------

    def on_payload(self, payload: bytes) -> None:
        """A message on the commands topic (the push link's thread); returns at once."""
        message = decode_command(payload)
        if message is None:
            self._ignored(f"not a command ({len(payload)} bytes)")
            return
        self._offer(message, "push")

    def pick_up(self) -> None:
        """Ask the API for the commands still to run (after a sync); returns at once."""
        with self._lock:
            if self._pick_up_queued:
                return
            self._pick_up_queued = True
            self._unfinished += 1
        self._queue.put_nowait(_PICK_UP)  # room: at most MAX_QUEUED commands and one pick-up

    def _offer(self, message: CommandMessage, via: str) -> None:
        with self._lock:
            if message.id in self._in_flight or message.id in self._run_set:
                return
            full = len(self._in_flight) >= MAX_QUEUED
            if not full:
                self._in_flight.add(message.id)
                self._unfinished += 1
        if full:
            self._ignored(f"command {message.id}: too many queued")
            return
        log.info("command %s (%s) received by %s", message.id, message.type, via)
        self._queue.put(message)

    def _ignored(self, why: str) -> None:
        now = self._monotonic()
        with self._lock:
            last = self._ignored_logged_mono
            if last is not None and now - last < IGNORED_LOG_INTERVAL_S:
                return
            self._ignored_logged_mono = now
        log.warning("commands: ignored a message: %s", why)

    # -- the worker ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if item is _PICK_UP:
                    with self._lock:
                        self._pick_up_queued = False
                    self._fetch()
                elif isinstance(item, CommandMessage):
                    self._execute(item)
            except Exception:  # loop boundary: one bad command must not end the worker
                log.exception("commands: unexpected failure")
            finally:
                with self._idle:
                    if isinstance(item, CommandMessage):
                        self._in_flight.discard(item.id)  # settled (or failed unexpectedly)
                    self._unfinished -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Whether everything queued so far was handled within ``timeout_s`` (tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout=timeout_s)

    def _fetch(self) -> None:
        try:
            items = self._fetch_open()
        except PlayerError as exc:
            log.debug("commands: pick-up failed: %s", exc)
            return
        for item in items:
            message = parse_command(item)
            if message is None:
                self._ignored("the API listed something that is not a command")
            else:
                self._offer(message, "pick-up")

    def _execute(self, message: CommandMessage) -> None:
        if rules.is_expired(message, self._now()):
            log.info("command %s expired at %s: not run", message.id, message.expires_at)
            self._remember(message.id)
            return
        if not self._ack(message, "delivered", None, attempts=1):
            self._remember(message.id)
            return
        state: AckState = "done"
        try:
            result = self._dispatch(message)
        except CommandError as exc:
            state, result = "failed", {"error": str(exc)}
        except Exception as exc:  # the command's own boundary: report it, live on
            log.exception("command %s (%s) failed", message.id, message.type)
            state, result = "failed", {"error": f"{type(exc).__name__}: {exc}"}
        self.executed += 1
        self._remember(message.id)
        log.info("command %s (%s): %s", message.id, message.type, state)
        self._ack(message, state, result, attempts=ACK_ATTEMPTS)

    def _dispatch(self, message: CommandMessage) -> dict[str, Any]:
        actions = self._actions
        if message.type == "sync":
            return actions.sync()
        if message.type == "skip":
            return actions.skip()
        if message.type == "volume":
            assert message.value is not None  # lomuz_rules.commands checked it
            return actions.set_volume(message.value)
        if message.type == "restart_playback":
            return actions.restart_playback()
        return actions.snapshot()

    def _ack(
        self,
        message: CommandMessage,
        state: AckState,
        result: Mapping[str, Any] | None,
        *,
        attempts: int,
    ) -> bool:
        """Whether the command may go on: False only when the API refused the ack."""
        for attempt in range(attempts):
            try:
                self._acknowledge(message.id, state, result)
                return True
            except ApiProtocolError as exc:
                log.warning("command %s: the API refused %s: %s", message.id, state, exc)
                return False
            except PlayerError as exc:
                if attempt + 1 < attempts and not self._stopping.wait(ACK_RETRY_S):
                    continue
                log.warning("command %s: acknowledging %s failed: %s", message.id, state, exc)
        return True

    def _remember(self, command_id: str) -> None:
        with self._lock:
            self._run_ids = rules.remembered(self._run_ids, command_id)
            self._run_set = set(self._run_ids)
            self._in_flight.discard(command_id)
            encoded = rules.encode_run_ids(self._run_ids)
        try:
            self._save_run_ids(encoded)
        except PlayerError as exc:  # kept in memory: only a restart could run it again
            log.warning("commands: cannot store the ids already run: %s", exc)
