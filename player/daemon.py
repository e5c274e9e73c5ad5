"""The player's composition root: ``lomuz-player run``.

Start order (stop is the reverse):
1. the store (migrated), the corrected clock (lower bound from the store),
   the media cache — playback plays from the last good state before any
   network I/O;
2. the media output and the playback loop; READY goes to systemd once the loop
   has started, and the loop's heartbeat pings the watchdog (a hung loop is
   restarted; a busy syncer cannot hide it);
3. the control socket (`lomuz-player sync` / `status` reach us there);
4. when enrolled: the API client, the syncer, the download manager and the
   telemetry uploader; the janitor in any case;
5. the apscheduler jobs — only once the wall clock is plausible, and
   re-created after a clock step (apscheduler runs on the wall clock; a jump
   from 1970 to today would make it enumerate every missed run).

A full data filesystem never stops start-up: nothing on the start path needs a
free byte to play (the store opens without writing, or with an in-memory
stand-in; the run lock falls back to locking the directory; a control socket
or cache directory that cannot be created is logged and done without), and
state writes that fail for lack of space are kept in memory by the store.

SIGTERM/SIGINT stop the daemon (the current play is recorded as skipped and
pending plays get one bounded upload attempt); SIGHUP asks for a sync now.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import IO, Any

from apscheduler.schedulers.background import BackgroundScheduler

import player
from player.adapters.clock import SystemClock
from player.adapters.fetcher import Fetcher
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.adapters.null_output import NullOutput
from player.adapters.output import MediaOutput
from player.adapters.sd_notify import SdNotifier
from player.adapters.system_metrics import SystemMetricsProbe
from player.adapters.textfile_metrics import PlayerMetrics, TextfileWriter
from player.core.model import Decision, Play, Tier
from player.core.status import CacheUse, PlayerStatus, RuntimeStatus, audio_state, status_line
from player.credentials import Credentials, CredentialsUnreadable, load_credentials
from player.errors import PlayerError
from player.jsonable import plain as _plain
from player.runtime.control import ControlServer, control_socket_path
from player.runtime.downloads import DownloadManager
from player.runtime.janitor import Janitor
from player.runtime.playback import PlaybackLoop
from player.runtime.syncer import Syncer, SyncOutcome
from player.runtime.telemetry import TelemetryUploader
from player.settings import Settings
from player.status_render import live_json
from player.store.read_only import KEY_CLOCK_LOWER_BOUND
from player.store.repository import PlayerStore
from player.wire import MAX_SYNC_INTERVAL_S, MIN_SYNC_INTERVAL_S, format_instant

log = logging.getLogger(__name__)

JANITOR_INTERVAL_S = 300
METRICS_INTERVAL_S = 30
CLOCK_WAIT_S = 30.0


class StoreSource:
    """The playback loop's view of the store, with the configured fallback tier."""

    def __init__(self, store: PlayerStore, fallback: Tier) -> None:
        self._store = store
        self._fallback = fallback

    def decide(self, at: datetime) -> Decision:
        return self._store.decide(at, self._fallback)

    def mark_started(
        self,
        decision: Decision,
        *,
        asset_id: str,
        sha256: str,
        started_at: datetime,
        play_id: str,
        planned_end_at: datetime,
    ) -> None:
        self._store.mark_started(
            asset_id=asset_id,
            sha256=sha256,
            source=decision.tier,
            started_at=started_at,
            playlist_id=decision.playlist_id,
            playlist_position=decision.playlist_position,
            play_id=play_id,
            planned_end_at=planned_end_at,
            schedule_id=decision.schedule_id,
        )

    def mark_alive(self, at: datetime) -> None:
        self._store.mark_alive(at)

    def record_play(self, play: Play) -> None:
        self._store.record_play(play, playlist_position=play.playlist_position)

    def quarantine_file(self, sha256: str, until: datetime, reason: str) -> None:
        self._store.quarantine_file(sha256, until, reason)


def build_output(settings: Settings, environ: Mapping[str, str]) -> MediaOutput:
    """The configured media output (vlc or null)."""
    if settings.playback.backend == "null":
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


class Daemon:
    """Everything ``lomuz-player run`` owns, built from the settings."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        output: MediaOutput | None = None,
    ) -> None:
        self.settings = settings
        self._environ = environ
        self._output_override = output
        self._output: MediaOutput | None = None
        self._scheduled_interval_s: int | None = None
        self._run_lock: IO[str] | None = None
        self._dir_lock: int | None = None
        self._stop = threading.Event()
        self._sync_now = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self._scheduler_lock = threading.Lock()
        self._notifier = SdNotifier.from_environ(environ)
        self._last_status_line = ""
        self._credentials: Credentials | None = None
        self._credentials_seen: tuple[int, int, int] | None = None
        self._credentials_checked = False
        self.store: PlayerStore | None = None
        self.loop: PlaybackLoop | None = None
        self.syncer: Syncer | None = None
        self.downloads: DownloadManager | None = None
        self.telemetry: TelemetryUploader | None = None
        self.janitor: Janitor | None = None
        self.client: ControlApiClient | None = None
        self.clock: SystemClock | None = None
        self.cache: MediaCache | None = None
        self._control: ControlServer | None = None
        self._metrics_probe = SystemMetricsProbe(settings.data_dir)
        # The textfile: written by the metrics job and once more (up 0) at shutdown,
        # under this lock, never after the shutdown's write.
        textfile_dir = settings.metrics.textfile_dir
        self._textfile = TextfileWriter(textfile_dir) if textfile_dir is not None else None
        self._metrics_lock = threading.Lock()
        self._metrics_stopped = False
        self._started_at = datetime.now(UTC)

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or ``request_stop``); returns the exit code."""
        self._install_signals()
        try:
            self.start()
            self._main_wait()
        finally:
            self.shutdown()
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    def start(self) -> None:
        settings = self.settings
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. ENOSPC: play from memory rather than not at all
            log.error("cannot create the data directory %s: %s", settings.data_dir, exc)
        self._take_run_lock()
        store = PlayerStore.open(
            settings.db_path, outbox_max_rows=settings.telemetry.outbox_max_rows,
            memory_if_full=True,
        )
        self.store = store
        lower_bound = store.device_state().clock_lower_bound
        clock = SystemClock(
            lower_bound=lower_bound,
            persist_lower_bound=lambda at: store.set_state(KEY_CLOCK_LOWER_BOUND, at.isoformat()),
        )
        self.clock = clock
        self._recover_interrupted_plays(lower_bound)
        cache = MediaCache(settings.media_dir)
        try:
            cache.ensure_dirs()
        except OSError as exc:  # a full disk: play what is cached, or the jingle
            log.error("cannot create the media cache directories in %s: %s",
                      settings.media_dir, exc)
        self.cache = cache

        output = self._output_override or build_output(settings, self._environ)
        self._output = output
        fallback = Tier(settings.playback.fallback)
        watchdog_s = self._notifier.watchdog_interval_s()
        self.loop = PlaybackLoop(
            StoreSource(store, fallback),
            clock,
            output,
            cache.path_for,
            crossfade_ms=settings.playback.crossfade_ms,
            heartbeat_interval_s=min(10.0, watchdog_s / 3) if watchdog_s else 10.0,
            heartbeat=self._heartbeat,
        )
        self.loop.start()
        self._notifier.ready()
        log.info(
            "player %s started: data_dir=%s backend=%s", player.__version__, settings.data_dir,
            settings.playback.backend,
        )

        self.janitor = Janitor(
            store, cache, clock,
            max_cache_bytes=settings.downloads.max_cache_bytes,
            min_free_bytes=settings.downloads.min_free_bytes,
            on_cache_changed=self._cache_changed,
        )
        self._pick_up_credentials()
        self._control = ControlServer(
            control_socket_path(settings),
            {"sync": self._control_sync, "status": lambda _req: self.status()},
        )
        try:
            self._control.start()
        except OSError as exc:  # playback does not need it
            log.error("control socket %s unavailable (%s): `lomuz-player sync/status` cannot "
                      "reach this daemon until it restarts", control_socket_path(settings), exc)
            self._control = None
        clock.on_step(self._clock_stepped)
        # Persists the clock's bound and notifies a step, every second (never in now()).
        clock.start_maintenance()

    def _recover_interrupted_plays(self, known_alive_at: datetime | None) -> None:
        """The items a power cut (or a crash) interrupted become skipped plays, uploaded later."""
        assert self.store is not None
        try:
            plays = self.store.recover_interrupted_plays(known_alive_at)
        except PlayerError as exc:  # playback first; the record stays for the next start
            log.warning("cannot record the plays the last stop interrupted yet: %s", exc)
            return
        for play in plays:
            log.info("the last stop cut %s (started %s) short: recorded as skipped",
                     play.asset_id, format_instant(play.started_at))

    def _take_run_lock(self) -> None:
        """One daemon per data directory: a second one would fight over the cache.

        The directory itself is locked (that needs no free byte), and
        ``run.lock`` too when it can be created (a full disk may refuse it).
        """
        data_dir = self.settings.data_dir
        busy = PlayerError(f"another lomuz-player daemon is running on {data_dir}")
        try:
            fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            fd = None  # no directory (it could not be created): nothing to fight over
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                raise busy from exc
            self._dir_lock = fd
        try:
            handle = (data_dir / "run.lock").open("a")
        except OSError as exc:
            log.warning("cannot create %s (%s): locking the directory only",
                        data_dir / "run.lock", exc)
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise busy from exc
        self._run_lock = handle

    def _pick_up_credentials(self) -> bool:
        """Build (or rebuild) the network side when the credentials file changed.

        Called at start and every second: ``lomuz-player enroll`` on a box whose
        daemon already runs (the package starts it at boot) takes effect at
        once, without a restart. True when the network side was (re)built.
        """
        path = self.settings.credentials_path
        try:
            st = path.stat()
            seen: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen == self._credentials_seen and self._credentials_checked:
            return False
        first = not self._credentials_checked
        self._credentials_seen, self._credentials_checked = seen, True
        try:
            credentials = load_credentials(path)
        except CredentialsUnreadable as exc:  # a runtime problem: keep playing, unenrolled
            log.error("%s; playing unenrolled until fixed: %s", exc, exc.fix)
            return False
        except PlayerError as exc:  # a damaged file: the same, with its own message
            log.error("%s; playing unenrolled until fixed", exc)
            return False
        if credentials is None:
            if first:
                log.info("not enrolled: playing from local state only (lomuz-player enroll)")
            return False
        if credentials == self._credentials:
            return False
        if not first:
            log.info("credentials changed: device %s at %s", credentials.device_id,
                     credentials.api_url)
        self._teardown_network()
        self._build_network(credentials)
        return True

    def _teardown_network(self) -> None:
        if self.downloads is not None:
            self.downloads.stop()
        if self.client is not None:
            self.client.close()
        self.client = self.syncer = self.downloads = self.telemetry = None
        self._credentials = None

    def _build_network(self, credentials: Credentials) -> None:
        assert self.store is not None and self.clock is not None and self.cache is not None
        self._credentials = credentials
        api_url = self.settings.api.url or credentials.api_url
        self.client = ControlApiClient(
            api_url, credentials.device_token,
            allow_insecure_http=self.settings.api.allow_insecure_http,
            media_origins=self.settings.api.media_origins,
        )
        if self.client.insecure_problem is not None:
            log.error("api url %s: %s; syncing, telemetry and downloads are refused, "
                      "playing from the cache", api_url, self.client.insecure_problem)
        self.syncer = Syncer(self.store, self.client, self.clock, on_applied=self._synced)
        assert self.janitor is not None
        self.downloads = DownloadManager(
            self.store,
            self.cache,
            Fetcher(self.client, self.cache),
            self.clock,
            concurrency=self.settings.downloads.concurrency,
            on_file_ready=self._file_ready,
            room_problem=self.janitor.room_problem,
        )
        self.downloads.start()
        self.telemetry = TelemetryUploader(self.store, self.client, self.status)

    def _main_wait(self) -> None:
        # Jobs need a plausible wall clock; until then only playback runs.
        while not self._stop.is_set():
            assert self.clock is not None
            if self.clock.status().plausible:
                self._arm_jobs()
                break
            log.warning("wall clock is implausible (%s); jobs wait", datetime.now(UTC))
            self._stop.wait(CLOCK_WAIT_S)
        if self.syncer is not None and not self._stop.is_set():
            self._run_sync("boot")
        while not self._stop.is_set():
            if self._sync_now.wait(1.0):
                self._sync_now.clear()
                self._run_sync("requested")
            if self._pick_up_credentials():
                if self._scheduler is not None:
                    self._arm_jobs()
                self._run_sync("enrolled")

    def shutdown(self) -> None:
        self._notifier.stopping()
        with self._scheduler_lock:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
                self._scheduler = None
        if self._control is not None:
            self._control.close()
        if self.downloads is not None:
            self.downloads.stop()
        if self.loop is not None:
            self.loop.stop()
        if self.telemetry is not None:
            try:
                self.telemetry.upload_plays()
            except PlayerError as exc:
                log.info("pending plays stay queued for the next start: %s", exc)
        if self.client is not None:
            self.client.close()
        if self.clock is not None:
            self.clock.stop_maintenance()
        if self.clock is not None and self.store is not None:
            self.clock.flush()
        if self._output is not None:
            self._output.close()
        self._write_stopped_metrics()
        if self.store is not None:
            self.store.close()
        if self._run_lock is not None:
            self._run_lock.close()
        if self._dir_lock is not None:
            os.close(self._dir_lock)
            self._dir_lock = None
        log.info("player stopped")

    # -- jobs ------------------------------------------------------------------------

    def _arm_jobs(self) -> None:
        """(Re)create the scheduler and its jobs on the current wall clock."""
        assert self.store is not None
        with self._scheduler_lock:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
            scheduler = BackgroundScheduler(
                timezone=UTC,
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            )
            interval_s = self._sync_interval_s()
            jitter_s = min(self.settings.sync.jitter_s, max(1, interval_s // 4))
            if self.syncer is not None:
                scheduler.add_job(self._sync_job, "interval", seconds=interval_s,
                                  jitter=jitter_s, id="sync")
            if self.telemetry is not None:
                scheduler.add_job(self.telemetry.run_once, "interval",
                                  seconds=self.settings.telemetry.interval_s,
                                  jitter=min(5, self.settings.telemetry.interval_s // 4),
                                  id="telemetry",
                                  next_run_time=datetime.now(UTC) + timedelta(seconds=2))
            scheduler.add_job(self._janitor_job, "interval", seconds=JANITOR_INTERVAL_S,
                              jitter=30, id="janitor",
                              next_run_time=datetime.now(UTC) + timedelta(seconds=20))
            if self.settings.metrics.textfile_dir is not None:
                scheduler.add_job(self._metrics_job, "interval", seconds=METRICS_INTERVAL_S,
                                  id="metrics", next_run_time=datetime.now(UTC))
            scheduler.start()
            self._scheduler = scheduler
            self._scheduled_interval_s = interval_s
        self._arm_boundary()

    def _arm_boundary(self) -> None:
        """A one-shot job at the next schedule boundary: downloads re-prioritise there."""
        assert self.store is not None and self.clock is not None
        decision = self.store.decide(self.clock.now())
        with self._scheduler_lock:
            if self._scheduler is None or decision.next_boundary_at is None:
                return
            wall_at = datetime.now(UTC) + (decision.next_boundary_at - self.clock.now())
            self._scheduler.add_job(self._boundary_job, "date", run_date=wall_at,
                                    id="boundary", replace_existing=True)

    def _sync_interval_s(self) -> int:
        assert self.store is not None
        from player.store.repository import KEY_SYNC_INTERVAL_S

        raw = self.store.get_state(KEY_SYNC_INTERVAL_S)
        try:
            stored = int(raw) if raw else self.settings.sync.interval_s
        except ValueError:
            return self.settings.sync.interval_s
        # The one range the wire allows: a value stored by an older player, or
        # written by hand, must not reach apscheduler's C int.
        return min(MAX_SYNC_INTERVAL_S, max(MIN_SYNC_INTERVAL_S, stored))

    def _sync_job(self) -> None:
        self._run_sync("scheduled")

    def _run_sync(self, why: str) -> dict[str, Any]:
        if self.syncer is None:
            return {"ok": False, "error": "not enrolled"}
        try:
            outcome = self.syncer.sync_once()
        except PlayerError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # job boundary: log and keep the daemon alive
            log.exception("sync (%s): unexpected error", why)
            return {"ok": False, "error": repr(exc)}
        if (
            outcome.sync_interval_s is not None
            and self._scheduled_interval_s is not None
            and outcome.sync_interval_s != self._scheduled_interval_s
        ):
            self._arm_jobs()
        return {"ok": True, "sync": outcome.as_json()}

    def _boundary_job(self) -> None:
        if self.downloads is not None:
            self.downloads.reprioritise()
        self._arm_boundary()

    def _janitor_job(self) -> None:
        if self.janitor is None:
            return
        try:
            self.janitor.run_once()
        except Exception:  # job boundary
            log.exception("janitor: unexpected error")

    def _metrics_job(self) -> None:
        with self._metrics_lock:
            if self._textfile is None or self._metrics_stopped:
                return
            try:
                snapshot = self.metrics_snapshot()
            except Exception:  # job boundary: a bug, not the directory (the writer logs that)
                log.exception("metrics: cannot take a snapshot")
                return
            self._textfile.write(snapshot)

    def _write_stopped_metrics(self) -> None:
        """At shutdown, before the store closes: the textfile says up 0 (never a stale 1)."""
        with self._metrics_lock:
            self._metrics_stopped = True
            if self._textfile is None:
                return
            if self.store is None or self.clock is None or self.cache is None:
                self._textfile.remove()  # start failed early: no snapshot to give
                return
            try:
                snapshot = self.metrics_snapshot()
            except Exception:  # shutdown boundary: still leave no "up 1" behind
                log.exception("metrics: cannot take the last snapshot")
                self._textfile.remove()
                return
            self._textfile.write_stopped(snapshot)

    def metrics_snapshot(self) -> PlayerMetrics:
        """The node_exporter textfile view of the player."""
        return PlayerMetrics.from_status(self.status_model(with_host=False))

    # -- callbacks ---------------------------------------------------------------------

    def _synced(self, outcome: SyncOutcome) -> None:
        if self.downloads is not None:
            self.downloads.reprioritise()
        if self.loop is not None:
            self.loop.request_reevaluate()
        self._arm_boundary()

    def _file_ready(self, _sha256: str) -> None:
        if self.loop is not None:
            self.loop.request_reevaluate()

    def _cache_changed(self) -> None:
        if self.downloads is not None:
            self.downloads.reprioritise()

    def _clock_stepped(self, step_s: float) -> None:
        log.warning("wall clock stepped by %+.0f s: re-arming timers", step_s)
        if self.loop is not None:
            self.loop.request_reevaluate()
        if self._scheduler is not None and not self._stop.is_set():
            threading.Thread(target=self._arm_jobs, name="rearm", daemon=True).start()

    def _control_sync(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        assert self.clock is not None
        started_mono = self.clock.monotonic()
        reply = self._run_sync("cli")
        if self.downloads is not None and reply.get("ok"):
            self.downloads.retry_now()
            wait_s = float(request.get("download_wait_s", 0) or 0)
            if wait_s > 0:
                reply["downloads_idle"] = self.downloads.wait_idle(wait_s)
            reply["downloads"] = _plain(self.downloads.status())
            reply["downloaded"] = self.downloads.downloaded_since(started_mono)
        return reply

    def _heartbeat(self) -> None:
        self._notifier.watchdog()
        if self.loop is None:
            return
        line = status_line(self.loop.now_playing())
        if line != self._last_status_line:
            self._last_status_line = line
            self._notifier.status(line)

    # -- status -----------------------------------------------------------------------

    def status_model(self, *, with_host: bool = True) -> PlayerStatus:
        """The one status model, read once (``with_host``: libvlc and the host probe too)."""
        assert self.store is not None and self.clock is not None and self.cache is not None
        now = self.clock.now()
        usage = self.cache.usage()
        playing = self.loop.now_playing() if self.loop is not None else None
        runtime = RuntimeStatus(
            started_at=self._started_at,
            player_version=player.__version__,
            libvlc_version=_libvlc_version() if with_host else None,
            now_playing=playing,
            audio=audio_state(self.settings.playback.backend, playing),
            enrolled=self._credentials is not None,
            downloads=self.downloads.status() if self.downloads is not None else None,
            storage_full=bool(self.janitor and self.janitor.storage_full),
            system=self._metrics_probe.snapshot().to_json() if with_host else None,
        )
        return PlayerStatus(
            at=now, state=self.store.device_state(), counts=self.store.counts(now),
            cache=CacheUse(usage.files, usage.size_bytes), clock=self.clock.status(),
            runtime=runtime, plays_total=self.store.plays_recorded_count(),
        )

    def status(self) -> dict[str, Any]:
        """The live status: what `status` prints and what telemetry reports."""
        return live_json(self.status_model())

    # -- signals -----------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self._stop.set()

        def hup(_signum: int, _frame: FrameType | None) -> None:
            self._sync_now.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)


def run(settings: Settings, environ: Mapping[str, str]) -> int:
    """``lomuz-player run``."""
    return Daemon(settings, environ).run()


def _libvlc_version() -> str | None:
    try:
        import vlc

        version = vlc.libvlc_get_version()
    except (ImportError, OSError, AttributeError):
        return None
    return version.decode() if isinstance(version, bytes) else str(version)
