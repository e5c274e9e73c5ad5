"""The player's composition root: ``lomuz-player run``.

The parts come from ``player.composition.PlayerParts`` (the same builder the
CLI commands use). Start order (stop is the reverse):
1. the data-directory lock, the store (migrated), the corrected clock (lower
   bound from the store), the media cache — playback plays from the last good
   state before any network I/O;
2. the media output and the playback loop; READY goes to systemd once the loop
   has started, and the loop's heartbeat pings the watchdog (a hung loop is
   restarted; a busy syncer cannot hide it);
3. the janitor and the control socket (`lomuz-player sync`/`status`); then the
   interpreter, so playback never waits long for the GIL (player.interpreter);
4. when enrolled: the network side (API client, syncer, downloads, telemetry,
   push link), rebuilt when the credentials file changes;
5. the apscheduler jobs — only once the wall clock is plausible, and
   re-created after a clock step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import player
from player.adapters.sd_notify import SdNotifier
from player.adapters.signals import install_signals
from player.adapters.system_metrics import SystemMetricsProbe
from player.adapters.textfile_metrics import MetricsTextfile
from player.adapters.vlc_output import libvlc_version
from player.composition import Hooks, PlayerParts
from player.core.status import status_line
from player.credentials import CredentialsWatch
from player.interpreter import tune_for_playback
from player.ports import MediaOutput
from player.runtime.jobs import Jobs
from player.runtime.playback_plays import recover_interrupted_plays
from player.runtime.status_report import StatusReport
from player.runtime.sync_requests import SyncRequests
from player.runtime.syncer import SyncOutcome
from player.settings import Settings
from player.status_render import live_json

log = logging.getLogger(__name__)


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
        self.parts = PlayerParts(
            settings,
            environ,
            for_daemon=True,
            output=output,
            hooks=Hooks(
                synced=self._synced,
                file_ready=lambda _sha256: self.parts.loop.request_reevaluate(),
                cache_changed=self._reprioritise,
                heartbeat=lambda loop: self._notifier.heartbeat(status_line(loop.now_playing())),
                heartbeat_interval_s=self._notifier.heartbeat_interval_s(),
                status=self.status,
                nudged=lambda: self.syncs.nudge(),  # noqa: PLW0108 - built below
                command_sync=lambda: self.syncs.run("command", fresh=True),
            ),
        )
        self.started = threading.Event()
        self._stop = threading.Event()
        self._credentials = CredentialsWatch(settings.credentials_path)
        probe = SystemMetricsProbe(settings.data_dir)
        self._report = StatusReport(
            self.parts,
            started_at=datetime.now(UTC),
            enrolled=lambda: self._credentials.enrolled,
            libvlc_version=libvlc_version,
            system=lambda: probe.snapshot().to_json(),
        )
        textfile_dir = settings.metrics.textfile_dir
        self._textfile = (
            None
            if textfile_dir is None
            else MetricsTextfile(
                textfile_dir, lambda: self._report.model(with_host=False), self._report.can_read
            )
        )
        self.syncs = SyncRequests(
            self.parts,
            interval_changed=lambda s: self.jobs.rearm_if_interval_changed(s),  # noqa: PLW0108
        )
        self.jobs = Jobs(
            self.parts,
            sync=self.syncs.run,
            metrics=self._textfile.write if self._textfile is not None else None,
        )

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or ``request_stop``); returns the exit code."""
        install_signals(self._stop, self.syncs.requested)
        try:
            self.start()
            tune_for_playback()  # not in start(): a test's process is not the daemon's
            self._main_wait()
        finally:
            self.shutdown()
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    def start(self) -> None:
        parts = self.parts
        parts.run_lock  # noqa: B018 - one daemon per data directory, before anything else
        recover_interrupted_plays(parts.store.rotation, parts.stored_clock_floor)
        if self._textfile is not None:  # the last word while the store is open
            parts.on_close(self._textfile.write_stopped)
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
        parts.serve_control({"sync": self.syncs.control, "status": lambda _req: self.status()})
        parts.maintain_clock(on_step=self._clock_stepped)
        self.started.set()

    def _pick_up_credentials(self) -> bool:
        """At start and every second: ``lomuz-player enroll`` takes effect at once."""
        if not self.parts.reconnect_if_changed(self._credentials):
            return False
        if self.jobs.armed:  # with the network's jobs now
            self.jobs.arm()
        return True

    def _main_wait(self) -> None:
        self.jobs.arm_when_plausible(lambda: self.parts.clock.status().plausible, self._stop)
        self.syncs.serve(self._stop, reconnect=self._pick_up_credentials)

    def shutdown(self) -> None:
        self._notifier.stopping()
        self.jobs.stop()
        parts = self.parts
        if parts.has("loop"):
            parts.loop.stop()  # first: the cut play is recorded as skipped ...
        if parts.network is not None:
            parts.network.upload_plays_before_stop()  # ... and gets one upload attempt
        parts.close()
        if self._textfile is not None:
            self._textfile.write_stopped()  # unless done: start failed before the store opened
        log.info("player stopped")

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

    def _metrics_job(self) -> None:
        if self._textfile is not None:
            self._textfile.write()

    def status(self) -> dict[str, Any]:
        """The live status: what `status` prints and what telemetry reports."""
        return live_json(self._report.model())


def run(settings: Settings, environ: Mapping[str, str]) -> int:
    """``lomuz-player run``."""
    return Daemon(settings, environ).run()
