"""The box itself: time sync, temperature, power, storage, the service unit, metrics.

Everything is read under ``DoctorProbes.root`` (/proc, /sys, /run) or through
its command runner, bounded by ``COMMAND_TIMEOUT_S``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from player.doctor.model import COMMAND_TIMEOUT_S, Check, DoctorProbes, Status
from player.settings import Settings

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


def check_metrics_dir(settings: Settings) -> Check:
    from player.adapters.textfile_metrics import textfile_dir_problem

    directory = settings.metrics.textfile_dir
    assert directory is not None
    problem = textfile_dir_problem(directory)
    if problem is None:
        return Check("metrics", "pass", f"textfile directory {directory} writable")
    summary, _, fix = problem.partition(": ")
    return Check("metrics", "warn", summary, fix or None)


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
