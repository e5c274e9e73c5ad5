"""``lomuz-player doctor``: field diagnostics for the technician in the shop.

Each check returns one ``Check`` (pass / warn / fail) with a one-line summary
and, when something is wrong, a fix hint. Rules:

- Read-only. The database is opened ``mode=ro`` and never created or migrated;
  cache files are only re-hashed; nothing under ``data_dir`` is written.
- Bounded. Commands and HTTP requests time out after at most 5 s; the cache
  sample re-hashes at most ``CACHE_SAMPLE_FILES`` files / ``CACHE_SAMPLE_BYTES``.
- A shop without internet is not a broken box: network errors warn, they never
  fail. Only what stops or corrupts playback fails.
- Every external reading goes through ``DoctorProbes`` (a root directory for
  /proc, /sys and /run, a command runner, an HTTP transport, the wall clock),
  so tests use temp trees and fakes.

Exit semantics (``doctor_command``): 0 when no check fails, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urljoin

from player.errors import ConfigError
from player.settings import Settings

Status = Literal["pass", "warn", "fail"]

TEXT_WIDTH = 60
COMMAND_TIMEOUT_S = 5.0
HTTP_TIMEOUT_S = 5.0
CACHE_SAMPLE_FILES = 5
CACHE_SAMPLE_BYTES = 200 * 1024 * 1024
CLOCK_WARN_S = 5.0
CLOCK_FAIL_S = 300.0
TEMP_WARN_C = 75.0
TEMP_FAIL_C = 85.0
SERVICE_UNIT = "lomuz-player"
THROTTLED_SYSFS = "sys/devices/platform/soc/soc:firmware/get_throttled"

# Raspberry Pi firmware get_throttled bits -> words. "now" bits fail on under-voltage
# (SD cards corrupt under brown-outs) and warn otherwise; "since boot" bits warn.
_THROTTLE_BITS: tuple[tuple[int, str, Status], ...] = (
    (0, "under-voltage now", "fail"),
    (1, "frequency capped now", "warn"),
    (2, "throttled now", "warn"),
    (3, "soft temp limit now", "warn"),
    (16, "under-voltage since boot", "warn"),
    (17, "freq capped since boot", "warn"),
    (18, "throttled since boot", "warn"),
    (19, "soft temp limit since boot", "warn"),
)


@dataclass(frozen=True)
class Check:
    """One diagnostic result. ``details`` carries long values (full hashes) for JSON."""

    name: str
    status: Status
    summary: str
    fix: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str = ""


# (argv, timeout_s) -> result, or None when the program is not installed.
CommandRunner = Callable[[Sequence[str], float], "CommandResult | None"]


def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult | None:
    """The real runner: no shell, bounded, never raises."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"timed out after {timeout_s:g} s")
    except OSError as exc:
        return CommandResult(126, "", str(exc))
    return CommandResult(done.returncode, done.stdout, done.stderr)


def load_libvlc() -> str:
    """Load libvlc, create a silent instance, return its version. Raises on failure."""
    import vlc

    instance = vlc.Instance(["--aout=dummy", "--vout=dummy", "--quiet"])
    if instance is None:
        raise RuntimeError("libvlc_new returned NULL (plugins missing?)")
    try:
        raw = vlc.libvlc_get_version()
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    finally:
        instance.release()


def probe_audio(settings: Settings) -> str | None:
    """Open the configured output and play the jingle silently: why no sound got out, or None."""
    from player.adapters.vlc_output import DEFAULT_ARGS, probe_audio_output
    from player.runtime.playback import default_jingle_path

    args = list(DEFAULT_ARGS)
    if settings.playback.audio_output:
        args.append(f"--aout={settings.playback.audio_output}")
    return probe_audio_output(args, default_jingle_path())


def ask_running_daemon(settings: Settings) -> Mapping[str, Any] | None:
    """The running daemon's live status, or None when none answers (or may not be asked)."""
    from player.runtime.control import ask_daemon, control_socket_path

    try:
        return ask_daemon(control_socket_path(settings), "status", timeout_s=5.0)
    except (OSError, ValueError):
        return None


def _statvfs_free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _wall_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DoctorProbes:
    """Where the doctor reads the outside world. Defaults are the real machine.

    ``root`` prefixes /proc, /sys and /run paths (a temp tree in tests).
    ``http_transport`` None means real network. ``libvlc`` returns a version or raises.
    """

    root: Path = Path("/")
    run: CommandRunner = run_command
    http_transport: Any = None  # httpx.BaseTransport; Any keeps httpx out of this import
    libvlc: Callable[[], str] = load_libvlc
    disk_free_bytes: Callable[[Path], int] = _statvfs_free_bytes
    wall_now: Callable[[], datetime] = _wall_now
    rng: random.Random = field(default_factory=random.Random)
    daemon_status: Callable[[Settings], Mapping[str, Any] | None] = ask_running_daemon
    audio_probe: Callable[[Settings], str | None] = probe_audio

    def host(self, path: str | Path) -> Path:
        """An absolute host path rebased under ``root``."""
        return self.root / str(path).lstrip("/")


# --- the checks ----------------------------------------------------------------


def run_checks(
    settings: Settings | ConfigError,
    *,
    environ: Mapping[str, str],
    probes: DoctorProbes | None = None,
) -> list[Check]:
    """Run every check. With a ConfigError only the checks that need no settings run."""
    p = probes or DoctorProbes()
    checks: list[Check] = []
    if isinstance(settings, ConfigError):
        checks.append(Check("config", "fail", f"invalid: {settings}", "fix the key in player.toml"))
    else:
        where = str(settings.source) if settings.source else "defaults (no file)"
        checks.append(Check("config", "pass", f"ok: {where}"))
        checks.append(_guarded("database", lambda: check_database(settings)))
        checks.append(_guarded("cache", lambda: check_cache(settings, p)))
        checks.append(_guarded("disk", lambda: check_disk(settings, p)))
    checks.append(_guarded("libvlc", lambda: check_libvlc(settings, p)))
    checks.append(_guarded("audio", lambda: check_audio(settings, environ, p)))
    if not isinstance(settings, ConfigError) and settings.metrics.textfile_dir is not None:
        checks.append(_guarded("metrics", lambda: check_metrics_dir(settings)))
    if not isinstance(settings, ConfigError):
        checks.extend(_guarded_many("api", lambda: check_api(settings, p)))
    checks.append(_guarded("timesync", lambda: check_timesync(p)))
    checks.append(_guarded("temperature", lambda: check_temperature(p)))
    checks.append(_guarded("power", lambda: check_power(p)))
    if not isinstance(settings, ConfigError):
        checks.append(_guarded("storage", lambda: check_storage(settings, p)))
    checks.append(_guarded("service", lambda: check_service(p)))
    return checks


def _crashed(name: str, exc: Exception) -> Check:
    return Check(
        name,
        "fail",
        f"check crashed: {type(exc).__name__}: {exc}",
        "the other checks still ran; report this line",
    )


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """One check; a bug or surprise in it becomes its own failure, never the doctor's."""
    try:
        return check()
    except Exception as exc:  # the check's boundary: the rest must still run
        return _crashed(name, exc)


def _guarded_many(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    try:
        return check()
    except Exception as exc:  # the check's boundary: the rest must still run
        return [_crashed(name, exc)]


def _ro_connect(db_path: Path) -> sqlite3.Connection:
    # The store's read-only path: no file created (not even -wal/-shm), no migration.
    from player.store.read_only import connect_read_only

    return connect_read_only(db_path, timeout_s=COMMAND_TIMEOUT_S)


def migration_heads() -> list[str]:
    """The alembic head revision(s) shipped with this player (known without alembic)."""
    from player.store.read_only import SCHEMA_HEAD

    return [SCHEMA_HEAD]


def check_database(settings: Settings) -> Check:
    path = settings.db_path
    if not path.is_file():
        return Check(
            "database",
            "fail",
            f"missing: {path}",
            "start the player (systemctl start lomuz-player) or import a bundle",
        )
    try:
        conn = _ro_connect(path)
    except sqlite3.Error as exc:
        return Check("database", "fail", f"cannot open: {exc}", "run doctor as the lomuz user")
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        result = "; ".join(str(r[0]) for r in rows)
        if result != "ok":
            return Check(
                "database",
                "fail",
                f"quick_check: {result[:200]}",
                "stop the player, move player.db aside, sync again",
            )
        try:
            current = {str(r[0]) for r in conn.execute("SELECT version_num FROM alembic_version")}
        except sqlite3.OperationalError:
            current = set()
    except sqlite3.Error as exc:  # "file is not a database", I/O errors
        return Check(
            "database",
            "fail",
            f"unreadable: {exc}",
            "stop the player, move player.db aside, sync again",
        )
    finally:
        conn.close()
    heads = set(migration_heads())
    if current != heads:
        shown = ",".join(sorted(current)) or "none"
        return Check(
            "database",
            "fail",
            f"migrations at {shown}, head is {','.join(sorted(heads))}",
            "restart the player: it migrates at start",
        )
    return Check("database", "pass", "quick_check ok, migrations at head")


def check_cache(settings: Settings, probes: DoctorProbes) -> Check:
    from player.adapters.media_cache import CacheEntry, MediaCache, hash_file

    cache = MediaCache(settings.media_dir)
    try:
        entries = cache.list_files()
    except OSError as exc:
        return Check("cache", "fail", f"cannot list {cache.root}: {exc.strerror or exc}")
    if not entries:
        return Check("cache", "pass", "empty (nothing downloaded yet)")
    candidates = list(entries)
    probes.rng.shuffle(candidates)
    sample: list[CacheEntry] = []
    budget = CACHE_SAMPLE_BYTES
    for entry in candidates:
        if len(sample) >= CACHE_SAMPLE_FILES:
            break
        if entry.size_bytes <= budget:
            sample.append(entry)
            budget -= entry.size_bytes
    bad: list[str] = []
    for entry in sample:
        try:
            actual, _size = hash_file(cache.path_for(entry.sha256))
        except FileNotFoundError:  # evicted meanwhile
            continue
        except OSError as exc:
            bad.append(f"{entry.sha256}: unreadable: {exc.strerror or exc}")
            continue
        if actual != entry.sha256:
            bad.append(f"{entry.sha256}: content has sha256 {actual}")
    checked = f"{len(sample)} of {len(entries)} files re-hashed"
    if bad:
        first = bad[0].split(":", 1)[0]
        return Check(
            "cache",
            "fail",
            f"{len(bad)} corrupt ({checked}): {first[:16]}",
            "remove the file; the player downloads it again",
            tuple(bad),
        )
    return Check("cache", "pass", f"{checked}, all match")


def _size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def check_disk(settings: Settings, probes: DoctorProbes) -> Check:
    from player.adapters.media_cache import MediaCache

    target = settings.media_dir
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        free = probes.disk_free_bytes(target)
        used = MediaCache(settings.media_dir).usage().size_bytes
    except OSError as exc:
        return Check("disk", "fail", f"cannot read free space: {exc.strerror or exc}")
    budget = settings.downloads.max_cache_bytes
    minimum = settings.downloads.min_free_bytes
    summary = f"{_size(free)} free (min {_size(minimum)}), cache {_size(used)}"
    if budget is not None:
        summary += f" of {_size(budget)}"
    if free < minimum:
        return Check("disk", "fail", summary, "free space on the SD card or lower the cache")
    if budget is not None and used > budget:
        return Check("disk", "warn", summary, "cache over budget: the janitor will evict")
    if free < 2 * minimum:
        return Check("disk", "warn", summary, "disk nearly at the minimum free space")
    return Check("disk", "pass", summary)


def check_libvlc(settings: Settings | ConfigError, probes: DoctorProbes) -> Check:
    null_backend = isinstance(settings, Settings) and settings.playback.backend == "null"
    try:
        version = probes.libvlc()
    except Exception as exc:  # the check's boundary: ctypes/libvlc fail in many ways
        status: Status = "warn" if null_backend else "fail"
        return Check(
            "libvlc",
            status,
            f"not loadable: {type(exc).__name__}: {exc}",
            "apt install vlc-bin vlc-plugin-base",
        )
    suffix = " (backend is null)" if null_backend else ""
    return Check("libvlc", "pass", f"{version}{suffix}")


def alsa_cards(probes: DoctorProbes) -> list[str]:
    """Card names from /proc/asound/cards (``" 0 [PCH    ]: HDA-Intel - ..."``)."""
    try:
        text = probes.host("/proc/asound/cards").read_text(errors="replace")
    except OSError:
        return []
    cards = []
    for line in text.splitlines():
        match = re.match(r"\s*\d+\s+\[([^\]]+)\]", line)
        if match:
            cards.append(match.group(1).strip())
    return cards


def check_audio(
    settings: Settings | ConfigError, environ: Mapping[str, str], probes: DoctorProbes
) -> Check:
    """Does sound reach a device? Under the vlc backend, no output is a failure.

    The running daemon's verdict comes first (it holds the device; a second
    opener may find it busy); without a daemon the doctor plays the jingle
    silently on the configured output itself.
    """
    devices = describe_audio_devices(environ, probes)
    if isinstance(settings, ConfigError) or settings.playback.backend != "vlc":
        return devices
    fix = (
        "no sound reaches a speaker: check the card is detected (`aplay -l`), the cable or "
        "HAT, and [playback] audio_output; `journalctl -u lomuz-player -p warning` has details"
    )
    live = probes.daemon_status(settings)
    audio = live.get("audio") if isinstance(live, Mapping) else None
    if isinstance(audio, Mapping):
        state, problem = audio.get("state"), audio.get("problem")
        if state == "none":
            return Check("audio", "fail", str(problem or "no audio output"), fix)
        if state == "ok":
            return Check("audio", "pass", f"sound reaches the output ({devices.summary})")
    else:
        problem = probes.audio_probe(settings)
        if problem is not None:
            return Check("audio", "fail", problem, fix)
        return Check("audio", "pass", f"a test play reached the output ({devices.summary})")
    return Check("audio", "warn", f"not checked yet by the player ({devices.summary})",
                 "run doctor again in a minute")


def check_metrics_dir(settings: Settings) -> Check:
    from player.adapters.textfile_metrics import textfile_dir_problem

    directory = settings.metrics.textfile_dir
    assert directory is not None
    problem = textfile_dir_problem(directory)
    if problem is None:
        return Check("metrics", "pass", f"textfile directory {directory} writable")
    summary, _, fix = problem.partition(": ")
    return Check("metrics", "warn", summary, fix or None)


def describe_audio_devices(environ: Mapping[str, str], probes: DoctorProbes) -> Check:
    """What sound servers and ALSA cards this box has (no sound is played)."""
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    servers = [
        label
        for label, name in (("PulseAudio", "pulse/native"), ("PipeWire", "pipewire-0"))
        if probes.host(Path(runtime_dir) / name).exists()
    ]
    if environ.get("PULSE_SERVER"):
        servers.append("PULSE_SERVER")
    cards = alsa_cards(probes)
    if servers:
        card_text = f", ALSA: {', '.join(cards)}" if cards else ""
        return Check("audio", "pass", f"{'/'.join(servers)} (mixing){card_text}")
    if cards:
        return Check(
            "audio",
            "pass",
            f"ALSA: {', '.join(cards)}; no sound server",
            "no mixing: crossfades fall back to one stream",
        )
    return Check(
        "audio",
        "warn",
        "no audio output found",
        "ok for signage only; else check audio cable/HAT",
    )


def check_api(settings: Settings, probes: DoctorProbes) -> list[Check]:
    """The ``api`` check (reachability and token) and the ``clock`` offset check."""
    from player.credentials import CredentialsUnreadable, load_credentials
    from player.settings import check_http_url

    unknown_clock = Check("clock", "warn", "offset unknown: API not reached")
    try:
        creds = load_credentials(settings.credentials_path)
    except CredentialsUnreadable as exc:
        # The daemon plays unenrolled meanwhile; the fix is the owner, not enrolling.
        return [Check("api", "fail", str(exc), exc.fix), unknown_clock]
    except ConfigError as exc:
        return [
            Check("api", "fail", str(exc), "lomuz-player enroll --api URL --code CODE"),
            unknown_clock,
        ]
    if creds is None:
        return [
            Check(
                "api",
                "warn",
                "not enrolled (imported content only)",
                "lomuz-player enroll --api URL --code CODE",
            ),
            unknown_clock,
        ]
    owner_problem = _credentials_owner_problem(settings.credentials_path)
    if owner_problem is not None:
        return [owner_problem, unknown_clock]
    mode_note = None
    try:
        if settings.credentials_path.stat().st_mode & 0o077:
            mode_note = f"chmod 600 {settings.credentials_path}"
    except OSError:
        pass
    from player.composition import api_url_for

    api_url = api_url_for(settings, creds)  # the URL the daemon and `sync` use
    key = "api.url" if settings.api.url else f"api_url in {settings.credentials_path}"
    try:
        check_http_url(api_url, allow_insecure_http=True)
    except ValueError as exc:
        return [
            Check("api", "fail", f"{key}: {exc}, got {api_url!r}", "fix the URL or enroll again"),
            unknown_clock,
        ]
    try:
        check_http_url(api_url, allow_insecure_http=settings.api.allow_insecure_http)
    except ValueError as exc:
        # An old enrollment over plain http: the daemon plays its cache but sends nothing.
        return [
            Check("api", "fail", f"{key}: {exc}, got {api_url!r}; not syncing",
                  "enroll again with an https:// --api URL, or set [api] "
                  "allow_insecure_http = true in the settings file"),
            unknown_clock,
        ]
    cursor = _stored_cursor(settings.db_path)
    result = _probe_manifest(api_url, creds.device_token, cursor, probes)
    if isinstance(result, str):
        # The whole reason (a TLS error says which certificate check failed).
        return [Check("api", "warn", "offline: playing from cache", result), unknown_clock]
    status, offset_s, request = result
    if status == 404:
        return [
            Check(
                "api",
                "fail",
                f"no Lomuz API at {api_url}: {request} answered 404",
                "check api.url (the URL enroll was given)",
            ),
            _clock_check(offset_s),
        ]
    if status in (401, 403):
        return [
            Check(
                "api",
                "fail",
                f"token refused (HTTP {status})",
                "re-enroll: lomuz-player enroll --api URL --code CODE",
            ),
            _clock_check(offset_s),
        ]
    if status in (200, 304):
        api = Check("api", "warn" if mode_note else "pass", f"token ok (HTTP {status})", mode_note)
        return [api, _clock_check(offset_s)]
    if status in (408, 429) or status >= 500:
        return [
            Check(
                "api", "warn", f"API busy or down: {request} answered HTTP {status}",
                "playing from cache",
            ),
            _clock_check(offset_s),
        ]
    return [
        Check("api", "fail", f"unexpected HTTP {status} from {request}", "check api.url"),
        _clock_check(offset_s),
    ]


def _credentials_owner_problem(path: Path) -> Check | None:
    """A fail when the service user (the data directory's owner) cannot read ``path``.

    Run as root, doctor reads any file; the daemon does not: a credentials file
    left root-owned by ``sudo lomuz-player enroll`` makes it play unenrolled.
    """
    from player.credentials import owner_name, unreadable_fix

    try:
        st = path.stat()
        dir_st = path.parent.stat()
    except OSError:
        return None
    if dir_st.st_uid in (st.st_uid, 0) or st.st_mode & 0o004:
        return None
    return Check(
        "api",
        "fail",
        f"{path} is owned by uid {st.st_uid}; the player ({owner_name(path.parent)}) "
        "cannot read it and runs unenrolled",
        unreadable_fix(path),
    )


def _stored_cursor(db_path: Path) -> str | None:
    from player.store.read_only import read_cursor

    if not db_path.is_file():
        return None
    try:
        conn = _ro_connect(db_path)
    except sqlite3.Error:
        return None
    try:
        return read_cursor(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _probe_manifest(
    api_url: str, token: str, cursor: str | None, probes: DoctorProbes
) -> tuple[int, float | None, str] | str:
    """(status, clock offset in seconds or None, "GET URL"), or the network error text.

    Every text names the URL tried.
    """
    import httpx

    from player.adapters.http_api import parse_http_date, transport_error_text
    from player.core.clock import ServerTime

    base = api_url if api_url.endswith("/") else api_url + "/"
    url = urljoin(base, "v1/device/manifest")
    params = {"since": cursor} if cursor else None
    try:
        with httpx.Client(
            transport=probes.http_transport,
            timeout=httpx.Timeout(HTTP_TIMEOUT_S),
            follow_redirects=False,
            headers={"User-Agent": "lomuz-player doctor"},
        ) as client:
            sent_mono = time.monotonic()
            # Status and headers only: a 200 full manifest can be megabytes.
            with client.stream(
                "GET", url, params=params, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                received_mono = time.monotonic()
                received_at = probes.wall_now()
                status = response.status_code
                date = response.headers.get("date")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"GET {url}: {transport_error_text(exc)}"
    except ValueError as exc:  # check_http_url let through something httpx refuses
        return f"GET {url}: bad URL: {exc}"
    server = parse_http_date(date)
    # The one offset rule (core.clock.offset_from_date), as the daemon's clock computes it.
    offset_s = (
        None if server is None
        else ServerTime(server, sent_mono, received_mono).offset_s(received_at)
    )
    return status, offset_s, f"GET {url}"


def _clock_check(offset_s: float | None) -> Check:
    from player.core.clock import describe_offset

    if offset_s is None:
        return Check("clock", "warn", "offset unknown: no Date header")
    text = describe_offset(offset_s)
    # The number for scripts (--json): API time minus local time.
    details = (f"offset_s {offset_s:+.1f}",)
    magnitude = abs(offset_s)
    if magnitude > CLOCK_FAIL_S:
        return Check("clock", "fail", text, "enable NTP (timedatectl set-ntp true)", details)
    if magnitude > CLOCK_WARN_S:
        return Check(
            "clock", "warn", text, "check NTP: the player corrects, but logs drift", details
        )
    return Check("clock", "pass", text, None, details)


def check_timesync(probes: DoctorProbes) -> Check:
    result = probes.run(
        ["timedatectl", "show", "-p", "NTPSynchronized", "--value"], COMMAND_TIMEOUT_S
    )
    if result is not None and result.returncode == 0:
        value = result.stdout.strip().lower()
        if value == "yes":
            return Check("timesync", "pass", "NTP synchronised (timedatectl)")
        if value == "no":
            return Check(
                "timesync",
                "warn",
                "NTP not synchronised",
                "timedatectl set-ntp true; check UDP 123",
            )
    if probes.host("/run/systemd/timesync/synchronized").exists():
        return Check("timesync", "pass", "NTP synchronised (timesyncd)")
    return Check("timesync", "warn", "sync state unknown", "install systemd-timesyncd or chrony")


def check_temperature(probes: DoctorProbes) -> Check:
    try:
        zones = sorted(probes.host("/sys/class/thermal").glob("thermal_zone*/temp"))
    except OSError:
        zones = []
    for zone in zones:
        try:
            temp_c = int(zone.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        text = f"CPU {temp_c:.1f} °C"
        if temp_c > TEMP_FAIL_C:
            return Check("temperature", "fail", text, "add a heatsink/fan; check ventilation")
        if temp_c > TEMP_WARN_C:
            return Check("temperature", "warn", text, "box runs hot: check ventilation")
        return Check("temperature", "pass", text)
    return Check("temperature", "pass", "no sensor readable")


def decode_throttled_words(bits: int) -> list[tuple[str, Status]]:
    """The set bits of a Pi ``get_throttled`` value as words with a severity."""
    return [(word, status) for bit, word, status in _THROTTLE_BITS if bits & (1 << bit)]


def check_power(probes: DoctorProbes) -> Check:
    raw: str | None = None
    try:
        raw = probes.host(THROTTLED_SYSFS).read_text()
    except OSError:
        result = probes.run(["vcgencmd", "get_throttled"], COMMAND_TIMEOUT_S)
        if result is not None and result.returncode == 0:
            raw = result.stdout
    if raw is None:
        return Check("power", "pass", "no throttling reading (not a Pi)")
    value = raw.strip().split("=", 1)[-1].strip()
    try:
        bits = int(value, 16)
    except ValueError:
        return Check("power", "warn", f"unreadable get_throttled: {value[:30]!r}")
    words = decode_throttled_words(bits)
    if not words:
        return Check("power", "pass", "no under-voltage or throttling")
    status: Status = "fail" if any(s == "fail" for _w, s in words) else "warn"
    return Check(
        "power",
        status,
        f"{hex(bits)}: " + ", ".join(w for w, _s in words),
        "use the official 5.1 V supply and a short cable",
    )


def _unescape_mount(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mount_of(path: Path, mounts_text: str) -> tuple[str, str, str, list[str]] | None:
    """(device, mount point, fs type, options) of the mount holding ``path``."""
    best: tuple[str, str, str, list[str]] | None = None
    target = str(path)
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        device, point, fstype, options = (_unescape_mount(p) for p in parts[:4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        # Later lines win on equal length: they are mounted on top.
        if inside and (best is None or len(point) >= len(best[1])):
            best = (device, point, fstype, options.split(","))
    return best


def check_storage(settings: Settings, probes: DoctorProbes) -> Check:
    try:
        mounts = probes.host("/proc/mounts").read_text(errors="replace")
    except OSError:
        return Check("storage", "warn", "cannot read /proc/mounts")
    data_dir = Path(os.path.abspath(settings.data_dir))
    found = mount_of(data_dir, mounts)
    if found is None:
        return Check("storage", "warn", f"no mount found for {data_dir}")
    device, point, fstype, options = found
    if "ro" in options:
        return Check(
            "storage",
            "fail",
            f"{point} is mounted read-only ({device})",
            "filesystem errors? run fsck; replace the SD card",
        )
    summary = f"{fstype} on {point}, read-write"
    if fstype == "ext4" and device.startswith("/dev/"):
        errors_path = probes.host(f"/sys/fs/ext4/{Path(device).name}/errors_count")
        try:
            errors = int(errors_path.read_text().strip())
        except (OSError, ValueError):
            errors = 0
        if errors > 0:
            return Check(
                "storage",
                "fail",
                f"{errors} ext4 errors on {Path(device).name}",
                "fsck at next boot; plan an SD card swap",
            )
        summary += ", 0 fs errors" if errors_path.exists() else ""
    return Check("storage", "pass", summary)


def check_service(probes: DoctorProbes) -> Check:
    result = probes.run(
        [
            "systemctl",
            "show",
            SERVICE_UNIT,
            "-p",
            "LoadState,ActiveState,WatchdogUSec,NRestarts",
        ],
        COMMAND_TIMEOUT_S,
    )
    if result is None or result.returncode != 0:
        return Check("service", "pass", "not under systemd")
    props = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    if props.get("LoadState", "") in ("not-found", ""):
        return Check("service", "warn", f"unit {SERVICE_UNIT} not installed")
    active = props.get("ActiveState", "unknown")
    watchdog = props.get("WatchdogUSec", "0")
    restarts_text = props.get("NRestarts", "0")
    restarts = int(restarts_text) if restarts_text.isdigit() else 0
    has_watchdog = watchdog not in ("0", "infinity", "")
    summary = f"{active}, watchdog {watchdog if has_watchdog else 'off'}, {restarts} restarts"
    if active == "failed":
        return Check("service", "fail", summary, f"journalctl -u {SERVICE_UNIT} -n 50")
    if active != "active":
        return Check("service", "warn", summary, f"systemctl start {SERVICE_UNIT}")
    if restarts > 0:
        return Check("service", "warn", summary, f"journalctl -u {SERVICE_UNIT} -n 50")
    if not has_watchdog:
        return Check("service", "warn", summary, "unit has no WatchdogSec=")
    return Check("service", "pass", summary)


# --- rendering and the command ---------------------------------------------------


def is_ok(checks: Sequence[Check]) -> bool:
    return all(c.status != "fail" for c in checks)


def render_text(checks: Sequence[Check], width: int = TEXT_WIDTH) -> str:
    """Short lines for a phone screen: ``PASS database  quick_check ok``, fixes indented."""
    lines: list[str] = []
    name_width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        head = f"{check.status.upper():4} {check.name:<{name_width}}  "
        lines.extend(
            textwrap.wrap(
                head + check.summary,
                width=width,
                subsequent_indent=" " * len(head),
                break_long_words=True,
            )
        )
        if check.fix:
            lines.extend(
                textwrap.wrap(
                    "-> " + check.fix,
                    width=width,
                    initial_indent="     ",
                    subsequent_indent="        ",
                    break_long_words=True,
                )
            )
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail")}
    verdict = "OK" if is_ok(checks) else "FAILED"
    lines.append(f"{verdict}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines) + "\n"


def render_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {"ok": is_ok(checks), "checks": [c.to_json() for c in checks]}


def doctor_command(
    settings_or_error: Settings | ConfigError,
    environ: Mapping[str, str],
    as_json: bool,
    out: IO[str],
    probes: DoctorProbes | None = None,
) -> int:
    """Run the checks and print them; 0 when nothing fails, 1 otherwise."""
    checks = run_checks(settings_or_error, environ=environ, probes=probes)
    if as_json:
        json.dump(render_json(checks), out, indent=2)
        out.write("\n")
    else:
        out.write(render_text(checks))
    return 0 if is_ok(checks) else 1
