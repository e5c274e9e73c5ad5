"""``lomuz-player doctor``: field diagnostics for the technician in the shop.

Each check returns one ``Check`` (pass / warn / fail) with a one-line summary
and, when something is wrong, a fix hint. Rules:

- Read-only. The database is read through ``player.store.read_only`` (opened
  ``mode=ro``, never created or migrated); cache files are only re-hashed;
  nothing under ``data_dir`` is written.
- On the player's layers: the API through ``ControlApiClient`` and the
  clock's one offset rule, libvlc through ``player.adapters.vlc_probe``; no
  SQL, HTTP client or ``import vlc`` of its own.
- Bounded. Commands and HTTP requests time out after at most 5 s; the cache
  sample re-hashes at most ``CACHE_SAMPLE_FILES`` files / ``CACHE_SAMPLE_BYTES``.
- A shop without internet is not a broken box: network errors warn, they never
  fail. Only what stops or corrupts playback fails.
- Every external reading goes through ``DoctorProbes`` (a root directory for
  /proc, /sys and /run, a command runner, an HTTP transport, the wall clock),
  so tests use temp trees and fakes.

Modules: ``model`` (``Check``, ``DoctorProbes``), one module per group of
checks (``data_checks``, ``sound_checks``, ``api_checks``, ``host_checks``),
``render`` (text and JSON). Exit semantics (``doctor_command``): 0 when no
check fails, 1 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import IO

from player.doctor.api_checks import CLOCK_FAIL_S, CLOCK_WARN_S, HTTP_TIMEOUT_S, check_api
from player.doctor.data_checks import (
    CACHE_SAMPLE_BYTES,
    CACHE_SAMPLE_FILES,
    check_cache,
    check_database,
    check_disk,
    migration_heads,
)
from player.doctor.host_checks import (
    SERVICE_UNIT,
    TEMP_FAIL_C,
    TEMP_WARN_C,
    THROTTLED_SYSFS,
    check_metrics_dir,
    check_power,
    check_service,
    check_storage,
    check_temperature,
    check_timesync,
    decode_throttled_words,
    mount_of,
)
from player.doctor.model import (
    COMMAND_TIMEOUT_S,
    Check,
    CommandResult,
    CommandRunner,
    DoctorProbes,
    Status,
    run_command,
)
from player.doctor.render import TEXT_WIDTH, is_ok, render_json, render_text
from player.doctor.sound_checks import (
    alsa_cards,
    check_audio,
    check_libvlc,
    check_vlc_plugins_cache,
    describe_audio_devices,
)
from player.errors import ConfigError
from player.settings import Settings

__all__ = [
    "CACHE_SAMPLE_BYTES",
    "CACHE_SAMPLE_FILES",
    "CLOCK_FAIL_S",
    "CLOCK_WARN_S",
    "COMMAND_TIMEOUT_S",
    "HTTP_TIMEOUT_S",
    "SERVICE_UNIT",
    "TEMP_FAIL_C",
    "TEMP_WARN_C",
    "TEXT_WIDTH",
    "THROTTLED_SYSFS",
    "Check",
    "CommandResult",
    "CommandRunner",
    "DoctorProbes",
    "Status",
    "alsa_cards",
    "check_api",
    "check_audio",
    "check_cache",
    "check_database",
    "check_disk",
    "check_libvlc",
    "check_metrics_dir",
    "check_power",
    "check_service",
    "check_storage",
    "check_temperature",
    "check_timesync",
    "check_vlc_plugins_cache",
    "decode_throttled_words",
    "describe_audio_devices",
    "doctor_command",
    "is_ok",
    "migration_heads",
    "mount_of",
    "render_json",
    "render_text",
    "run_checks",
    "run_command",
]


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
    checks.append(_guarded("vlc plugins", lambda: check_vlc_plugins_cache(settings, p)))
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
