"""The player's composition root: ``lomuz-player run``.

The parts come from ``player.composition.PlayerParts`` (the same builder the
CLI commands use); the timers from ``player.runtime.jobs``, the credentials
watch from ``player.credentials``, the metrics textfile from
``player.adapters.textfile_metrics``. Start order (stop is the reverse):
1. the data-directory lock, the store (migrated), the corrected clock (lower
   bound from the store), the media cache — playback plays from the last good
   state before any network I/O;
2. the media output and the playback loop; READY goes to systemd once the loop
   has started, and the loop's heartbeat pings the watchdog (a hung loop is
   restarted; a busy syncer cannot hide it);
3. the janitor and the control socket (`lomuz-player sync` / `status` reach us
   there);
4. when enrolled: the network side (API client, syncer, download manager,
   telemetry uploader), rebuilt when the credentials file changes;
5. the apscheduler jobs — only once the wall clock is plausible, and
   re-created after a clock step.

A full data filesystem never stops start-up: nothing on the start path needs a
free byte to play (the store opens without writing, or with an in-memory
stand-in; the run lock falls back to locking the directory; a control socket
or cache directory that cannot be created is logged and done without), and
state writes that fail for lack of space are kept in memory by the store.

SIGTERM/SIGINT stop the daemon (the current play is recorded as skipped and
pending plays get one bounded upload attempt); SIGHUP asks for a sync now.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import player
from player.adapters.sd_notify import SdNotifier
from player.adapters.system_metrics import SystemMetricsProbe
from player.adapters.textfile_metrics import MetricsTextfile, PlayerMetrics
from player.adapters.vlc_output import libvlc_version
from player.composition import Hooks, PlayerParts
from player.core.status import CacheUse, PlayerStatus, RuntimeStatus, audio_state, status_line
from player.credentials import CredentialsWatch
from player.errors import PlayerError
from player.jsonable import plain as _plain
from player.ports import MediaOutput
from player.runtime.jobs import Jobs
from player.runtime.syncer import SyncOutcome
from player.settings import Settings
from player.status_render import live_json
from player.wire import format_instant

if TYPE_CHECKING:
    from player.runtime.playback import PlaybackLoop
    from player.store.rotation import Rotation

log = logging.getLogger(__name__)

CLOCK_WAIT_S = 30.0


class Daemon:
    """Everything ``lomuz-player run`` owns, built from the settings.

    ``parts`` holds what was built; ``started`` is set once ``start()`` has
    built the local side (other threads read ``parts`` only after that).
    """

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        output: MediaOutput | None = None,
    ) -> None:
        self.settings = settings
        self._notifier = SdNotifier.from_environ(environ)
        watchdog_s = self._notifier.watchdog_interval_s()
        self.parts = PlayerParts(
            settings,
            environ,
            for_daemon=True,
            output=output,
            hooks=Hooks(
                synced=self._synced,
                file_ready=lambda _sha256: self.parts.loop.request_reevaluate(),
                cache_changed=self._reprioritise,
                heartbeat=self._heartbeat,
                heartbeat_interval_s=min(10.0, watchdog_s / 3) if watchdog_s else 10.0,
                status=self.status,
            ),
        )
        self.started = threading.Event()
        self._stop = threading.Event()
        self._sync_now = threading.Event()
        self._last_status_line = ""
        self._credentials = CredentialsWatch(settings.credentials_path)
        self._metrics_probe = SystemMetricsProbe(settings.data_dir)
        textfile_dir = settings.metrics.textfile_dir
        self._textfile = (
            MetricsTextfile(textfile_dir, self.metrics_snapshot)
            if textfile_dir is not None
            else None
        )
        self.jobs = Jobs(
            self.parts,
            sync=self._run_sync,
            metrics=self._textfile.write if self._textfile is not None else None,
        )
        self._started_at = datetime.now(UTC)

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or ``request_stop``); returns the exit code."""
        install_signals(self._stop, self._sync_now)
        try:
            self.start()
            self._main_wait()
        finally:
            self.shutdown()
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    def start(self) -> None:
        parts = self.parts
        parts.run_lock  # noqa: B018 - one daemon per data directory, before anything else
        parts.store  # noqa: B018
        parts.on_close(self._write_stopped_metrics)  # the last word while the store is open
        recover_interrupted_plays(parts.store.rotation, parts.stored_clock_floor)
        parts.loop  # noqa: B018 - builds and starts the store, clock, cache, output, loop
        self._notifier.ready()
        log.info(
            "player %s started: data_dir=%s backend=%s",
            player.__version__,
            self.settings.data_dir,
            self.settings.playback.backend,
        )
        parts.janitor  # noqa: B018
        self._pick_up_credentials()
        parts.serve_control({"sync": self._control_sync, "status": lambda _req: self.status()})
        parts.clock.on_step(self._clock_stepped)
        # Persists the clock's bound and notifies a step, every second (never in now());
        # stopped before the parts close (the clock's flush comes after).
        parts.clock.start_maintenance()
        parts.on_close(parts.clock.stop_maintenance)
        self.started.set()

    def _pick_up_credentials(self) -> bool:
        """(Re)build the network side when the credentials file changed; True when it did.

        Called at start and every second: ``lomuz-player enroll`` on a box whose
        daemon already runs (the package starts it at boot) takes effect at once.
        """
        credentials = self._credentials.changed()
        if credentials is None:
            return False
        network = self.parts.connect(credentials)
        network.downloads  # noqa: B018 - started now: they queue what the catalogue needs
        network.telemetry  # noqa: B018
        return True

    def _main_wait(self) -> None:
        # Jobs need a plausible wall clock; until then only playback runs.
        while not self._stop.is_set():
            if self.parts.clock.status().plausible:
                self.jobs.arm()
                break
            log.warning("wall clock is implausible (%s); jobs wait", datetime.now(UTC))
            self._stop.wait(CLOCK_WAIT_S)
        if self.parts.network is not None and not self._stop.is_set():
            self._run_sync("boot")
        while not self._stop.is_set():
            if self._sync_now.wait(1.0):
                self._sync_now.clear()
                self._run_sync("requested")
            if self._pick_up_credentials():
                if self.jobs.armed:
                    self.jobs.arm()
                self._run_sync("enrolled")

    def shutdown(self) -> None:
        self._notifier.stopping()
        self.jobs.stop()
        parts = self.parts
        if parts.has("loop"):
            parts.loop.stop()  # first: the cut play is recorded as skipped ...
        network = parts.network
        if network is not None and network.has_telemetry():
            try:  # ... and gets one bounded upload attempt
                network.telemetry.upload_plays()
            except PlayerError as exc:
                log.info("pending plays stay queued for the next start: %s", exc)
        parts.close()
        if self._textfile is not None and not self._textfile.stopped:
            self._write_stopped_metrics()  # start failed before the store opened
        log.info("player stopped")

    # -- sync --------------------------------------------------------------------------

    def _run_sync(self, why: str) -> dict[str, Any]:
        network = self.parts.network
        if network is None:
            return {"ok": False, "error": "not enrolled"}
        try:
            outcome = network.syncer.sync_once()
        except PlayerError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # job boundary: log and keep the daemon alive
            log.exception("sync (%s): unexpected error", why)
            return {"ok": False, "error": repr(exc)}
        self.jobs.rearm_if_interval_changed(outcome.sync_interval_s)
        return {"ok": True, "sync": outcome.as_json()}

    def _control_sync(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        started_mono = self.parts.clock.monotonic()
        reply = self._run_sync("cli")
        network = self.parts.network
        if network is not None and reply.get("ok"):
            downloads = network.downloads
            downloads.retry_now()
            wait_s = float(request.get("download_wait_s", 0) or 0)
            if wait_s > 0:
                reply["downloads_idle"] = downloads.wait_idle(wait_s)
            reply["downloads"] = _plain(downloads.status())
            reply["downloaded"] = downloads.downloaded_since(started_mono)
        return reply

    # -- callbacks ---------------------------------------------------------------------

    def _synced(self, outcome: SyncOutcome) -> None:
        self._reprioritise()
        self.parts.loop.request_reevaluate()
        self.jobs.arm_boundary()

    def _reprioritise(self) -> None:
        network = self.parts.network
        if network is not None and network.has_downloads():
            network.downloads.reprioritise()

    def _clock_stepped(self, step_s: float) -> None:
        log.warning("wall clock stepped by %+.0f s: re-arming timers", step_s)
        self.parts.loop.request_reevaluate()
        if not self._stop.is_set():
            self.jobs.rearm_soon()

    def _heartbeat(self, loop: PlaybackLoop) -> None:
        self._notifier.watchdog()
        line = status_line(loop.now_playing())
        if line != self._last_status_line:
            self._last_status_line = line
            self._notifier.status(line)

    # -- metrics and status ------------------------------------------------------------

    def _metrics_job(self) -> None:
        if self._textfile is not None:
            self._textfile.write()

    def _write_stopped_metrics(self) -> None:
        if self._textfile is not None:
            parts = self.parts
            self._textfile.write_stopped(
                can_snapshot=all(parts.has(name) for name in ("store", "clock", "cache"))
            )

    def status_model(self, *, with_host: bool = True) -> PlayerStatus:
        return status_model(
            self.parts,
            self._started_at,
            self._credentials.enrolled,
            self._metrics_probe,
            with_host=with_host,
        )

    def metrics_snapshot(self) -> PlayerMetrics:
        """The node_exporter textfile view of the player."""
        return PlayerMetrics.from_status(self.status_model(with_host=False))

    def status(self) -> dict[str, Any]:
        """The live status: what `status` prints and what telemetry reports."""
        return live_json(self.status_model())


def recover_interrupted_plays(rotation: Rotation, known_alive_at: datetime | None) -> None:
    """The items a power cut (or a crash) interrupted become skipped plays, uploaded later."""
    try:
        plays = rotation.recover_interrupted_plays(known_alive_at)
    except PlayerError as exc:  # playback first; the record stays for the next start
        log.warning("cannot record the plays the last stop interrupted yet: %s", exc)
        return
    for play in plays:
        log.info(
            "the last stop cut %s (started %s) short: recorded as skipped",
            play.asset_id,
            format_instant(play.started_at),
        )


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


def run(settings: Settings, environ: Mapping[str, str]) -> int:
    """``lomuz-player run``."""
    return Daemon(settings, environ).run()


# -- what the daemon reports (built parts only: nothing is built to report it) ----


def status_model(
    parts: PlayerParts,
    started_at: datetime,
    enrolled: bool,
    probe: SystemMetricsProbe,
    *,
    with_host: bool = True,
) -> PlayerStatus:
    """The one status model, read once (``with_host``: libvlc and the host probe too)."""
    store, clock, cache = parts.store, parts.clock, parts.cache
    network = parts.network
    now = clock.now()
    usage = cache.usage()
    playing = parts.loop.now_playing() if parts.has("loop") else None
    runtime = RuntimeStatus(
        started_at=started_at,
        player_version=player.__version__,
        libvlc_version=libvlc_version() if with_host else None,
        now_playing=playing,
        audio=audio_state(parts.settings.playback.backend, playing),
        enrolled=enrolled,
        downloads=(
            network.downloads.status() if network is not None and network.has_downloads() else None
        ),
        storage_full=parts.has("janitor") and parts.janitor.storage_full,
        system=probe.snapshot().to_json() if with_host else None,
    )
    return PlayerStatus(
        at=now,
        state=store.state.read(),
        counts=store.outbox.counts(now),
        cache=CacheUse(usage.files, usage.size_bytes),
        clock=clock.status(),
        runtime=runtime,
        plays_total=store.outbox.plays_recorded_count(),
    )
