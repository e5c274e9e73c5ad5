"""The player's parts, built from the settings: one builder for the daemon and the CLI.

Issue 11: the daemon and ``lomuz-player sync`` used to wire the store, clock,
API client, syncer and downloads each by hand, and drifted (the CLI ignored
``[api] url`` and ran without the clock floor). Now both ask ``PlayerParts``.

Dependency order (a part is built the first time someone asks for it, with
what it needs built first; nothing is built at import or construction):

    data-dir lock -> store -> clock (floor from the store) -> media cache
    -> janitor -> output -> playback loop -> control socket
    -> network(credentials): API client -> syncer, downloads, telemetry

Parts that run threads (the loop, downloads, the control socket) start when
built. ``close()`` (or leaving the ``with`` block) stops and closes every
built part in the reverse order of building; what was never built costs
nothing. The module imports only the standard library and light player
modules at top level: ``status``, ``sync`` on a box that is not enrolled and
``clock reset`` stay fast (tests/player/cli/test_cli_imports.py).

Two modes: a full data filesystem never stops the daemon's start-up
(``for_daemon=True``): nothing on the start path needs a free byte to play
(the store opens without writing, or with an in-memory stand-in; the run lock
falls back to locking the directory; a control socket or cache directory that
cannot be created is logged and done without), and state writes that fail for
lack of space are kept in memory by the store. A CLI command fails with a
``PlayerError`` instead.

Threading: build parts from one thread (the daemon's main thread, a CLI
command); built parts are then shared as each part's docstring allows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lomuz_rules.model import Decision, Tier
from player.core.model import ItemStart, Play
from player.errors import PlayerError
from player.settings import Settings

if TYPE_CHECKING:
    from player.adapters.clock import SystemClock
    from player.adapters.http_api import ControlApiClient
    from player.adapters.media_cache import MediaCache
    from player.adapters.run_lock import DataDirLock
    from player.credentials import Credentials, CredentialsWatch
    from player.network import Network
    from player.ports import MediaOutput
    from player.runtime.control import ControlServer, Handler
    from player.runtime.janitor import Janitor
    from player.runtime.playback import PlaybackLoop
    from player.runtime.syncer import SyncOutcome
    from player.store.repository import PlayerStore

log = logging.getLogger(__name__)


def api_url_for(settings: Settings, credentials: Credentials) -> str:
    """The API the player talks to: ``[api] url`` when set, else the enrolled one."""
    return settings.api.url or credentials.api_url


@dataclass(frozen=True)
class Hooks:
    """What the runtime hears from the parts; the defaults ignore everything.

    Called from the part's own thread (the syncer's caller, a download worker,
    the janitor's caller, the playback thread): keep them short.
    """

    synced: Callable[[SyncOutcome], None] | None = None
    file_ready: Callable[[str], None] | None = None
    cache_changed: Callable[[], None] | None = None
    heartbeat: Callable[[PlaybackLoop], None] | None = None  # from the loop's thread
    heartbeat_interval_s: float = 10.0
    status: Callable[[], Mapping[str, Any]] = dict
    nudged: Callable[[], None] | None = None  # a push nudge asks for a fresh sync now
    # A remote "sync" command: one fresh sync now, its reply (``SyncRequests.run``).
    command_sync: Callable[[], Mapping[str, Any]] | None = None


class StoreSource:
    """The playback loop's view of the store, with the configured fallback tier."""

    def __init__(self, store: PlayerStore, fallback: Tier) -> None:
        self._decisions = store.decisions
        self._rotation = store.rotation
        self._outbox = store.outbox
        self._files = store.files
        self._fallback = fallback

    def decide(self, at: datetime) -> Decision:
        return self._decisions.decide(at, self._fallback)

    def mark_started(self, start: ItemStart) -> None:
        decision = start.decision
        self._rotation.mark_started(
            asset_id=start.asset_id,
            sha256=start.sha256,
            source=decision.tier,
            started_at=start.started_at,
            playlist_id=decision.playlist_id,
            playlist_position=decision.playlist_position,
            play_id=start.play_id,
            planned_end_at=start.planned_end_at,
            schedule_id=decision.schedule_id,
        )

    def mark_alive(self, at: datetime) -> None:
        self._rotation.mark_alive(at)

    def record_play(self, play: Play) -> None:
        self._outbox.record_play(play, playlist_position=play.playlist_position)

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        self._files.quarantine_file(sha256, until, reason)


def build_output(settings: Settings, environ: Mapping[str, str]) -> MediaOutput:
    """The configured media output (vlc or null); libvlc is imported only for vlc."""
    if settings.playback.backend == "null":
        from player.adapters.null_output import NullOutput

        return NullOutput()
    from player.adapters.vlc_output import DEFAULT_ARGS, VlcOutput

    args: list[str] = list(DEFAULT_ARGS)
    if settings.playback.audio_output:
        args.append(f"--aout={settings.playback.audio_output}")
    return VlcOutput(
        args,
        volume_percent=settings.playback.volume,
        overlap=None if settings.playback.gapless else False,
        env=environ,
    )


class PlayerParts:
    """Builds the player's parts from ``settings`` on demand; a context manager.

    ``output`` replaces the configured media output (tests). ``hooks`` are the
    runtime's callbacks. See the module docstring for the order and modes.
    """

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        for_daemon: bool = False,
        hooks: Hooks | None = None,
        output: MediaOutput | None = None,
    ) -> None:
        self.settings = settings
        self.hooks = hooks or Hooks()
        self._environ = environ
        self._for_daemon = for_daemon
        self._output_override = output
        self._stack = ExitStack()
        self._network: Network | None = None
        self._network_registered = False

    def __enter__(self) -> PlayerParts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop and close every built part, the last built first."""
        self._stack.close()

    def on_close(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` at ``close()``, before the parts built so far are closed."""
        self._stack.callback(callback)

    def has(self, name: str) -> bool:
        """Whether the part ``name`` (e.g. "store", "loop") was built."""
        return name in self.__dict__

    # -- local parts -------------------------------------------------------------

    @cached_property
    def data_dir(self) -> os.PathLike[str]:
        """The data directory, created if needed."""
        path = self.settings.data_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self._for_daemon:
                raise PlayerError(f"data_dir {path}: cannot create: {exc.strerror or exc}") from exc
            # e.g. ENOSPC: the daemon plays from memory rather than not at all
            log.error("cannot create the data directory %s: %s", path, exc)
        return path

    @cached_property
    def run_lock(self) -> DataDirLock:
        """This process's hold on the data directory (raises when a daemon holds it)."""
        from player.adapters.run_lock import DataDirLock

        lock = DataDirLock(self.data_dir)
        self._stack.callback(lock.release)
        return lock

    @cached_property
    def store(self) -> PlayerStore:
        """The local database, opened for writing (created and migrated)."""
        from player.store.repository import PlayerStore

        self.data_dir  # noqa: B018 - built first: the database lives there
        store = PlayerStore.open(
            self.settings.db_path,
            outbox_max_rows=self.settings.telemetry.outbox_max_rows,
            memory_if_full=self._for_daemon,
        )
        self._stack.callback(store.close)
        return store

    @cached_property
    def stored_clock_floor(self) -> datetime | None:
        """The clock lower bound persisted in the store when it was first asked for."""
        return self.store.state.read().clock_lower_bound

    @cached_property
    def clock(self) -> SystemClock:
        """The corrected clock: never before the persisted floor, which it keeps raising."""
        from player.adapters.clock import SystemClock

        clock = SystemClock(
            lower_bound=self.stored_clock_floor,
            persist_lower_bound=self.store.state.set_clock_lower_bound,
        )
        self._stack.callback(clock.flush)
        return clock

    def maintain_clock(self, *, on_step: Callable[[float], None]) -> None:
        """Start the clock's thread: it persists the bound and notifies a step (to
        ``on_step``) every second, never in ``now()``; stopped at ``close()``, before
        the clock's flush."""
        self.clock.on_step(on_step)
        self.clock.start_maintenance()
        self._stack.callback(self.clock.stop_maintenance)

    @cached_property
    def media_cache(self) -> MediaCache:
        """The media cache as it is on disk (no directory created: ``import`` checks first)."""
        from player.adapters.media_cache import MediaCache

        return MediaCache(self.settings.media_dir)

    @cached_property
    def cache(self) -> MediaCache:
        """The media cache with its directories created."""
        cache = self.media_cache
        try:
            cache.ensure_dirs()
        except OSError as exc:
            if not self._for_daemon:
                raise PlayerError(
                    f"media cache {self.settings.media_dir}: cannot create: {exc.strerror or exc}"
                ) from exc
            # a full disk: the daemon plays what is cached, or the jingle
            log.error(
                "cannot create the media cache directories in %s: %s", self.settings.media_dir, exc
            )
        return cache

    @cached_property
    def janitor(self) -> Janitor:
        from player.runtime.janitor import Janitor

        downloads, store = self.settings.downloads, self.store
        return Janitor(
            self.cache,
            self.clock,
            files=store.files,
            catalogue=store.catalogue,
            state=store.state,
            write_back=store.db.flush_deferred,
            max_cache_bytes=downloads.max_cache_bytes,
            min_free_bytes=downloads.min_free_bytes,
            on_cache_changed=self.hooks.cache_changed,
        )

    @cached_property
    def output(self) -> MediaOutput:
        output = self._output_override or build_output(self.settings, self._environ)
        self._stack.callback(output.close)
        return output

    @cached_property
    def loop(self) -> PlaybackLoop:
        """The playback loop, started."""
        from player.runtime.playback import PlaybackLoop

        beat = self.hooks.heartbeat
        loop = PlaybackLoop(
            StoreSource(self.store, Tier(self.settings.playback.fallback)),
            self.clock,
            self.output,
            self.cache.path_for,
            crossfade_ms=self.settings.playback.crossfade_ms,
            loudness=self.settings.audio,
            heartbeat_interval_s=self.hooks.heartbeat_interval_s,
            heartbeat=None if beat is None else lambda: beat(loop),
        )
        loop.start()
        self._stack.callback(loop.stop)
        return loop

    def serve_control(self, handlers: Mapping[str, Handler]) -> ControlServer | None:
        """The control socket serving ``handlers``, started; None when it cannot be."""
        from player.runtime.control import ControlServer, control_socket_path

        path = control_socket_path(self.settings)
        server = ControlServer(path, handlers)
        try:
            server.start()
        except OSError as exc:  # playback does not need it
            log.error(
                "control socket %s unavailable (%s): `lomuz-player sync/status` cannot "
                "reach this daemon until it restarts",
                path,
                exc,
            )
            return None
        self._stack.callback(server.close)
        return server

    # -- the network side ----------------------------------------------------------

    def enrollment_client(self, api_url: str) -> ControlApiClient:
        """An API client without a device token (``enroll``); closed with the parts."""
        from player.adapters.http_api import ControlApiClient

        client = ControlApiClient(
            api_url, None, allow_insecure_http=self.settings.api.allow_insecure_http
        )
        self._stack.callback(client.close)
        return client

    @property
    def network(self) -> Network | None:
        """The current network side; None until ``connect`` (not enrolled)."""
        return self._network

    def connect(self, credentials: Credentials) -> Network:
        """The network side for ``credentials``; a previous one is closed first."""
        self.disconnect()
        if not self._network_registered:  # closed in building order, like any part
            self._stack.callback(self.disconnect)
            self._network_registered = True
        from player.network import Network

        network = Network(self, credentials)
        self._network = network
        return network

    def reconnect_if_changed(self, watch: CredentialsWatch) -> bool:
        """(Re)build and start the network side when ``watch`` saw the credentials file
        change (an enrollment on a box whose daemon already runs); True when it did."""
        credentials = watch.changed()
        if credentials is None:
            return False
        self.connect(credentials).start()
        return True

    def disconnect(self) -> None:
        if self._network is not None:
            network, self._network = self._network, None
            network.close()
