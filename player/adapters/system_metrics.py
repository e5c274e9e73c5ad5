"""System metrics for the status report: CPU, memory, disk, temperature, Pi throttling.

Every value is best effort: a reading that is unavailable on this machine (no
sensors, not a Raspberry Pi, a permission error) is None, never an exception.
Cheap enough to call every telemetry interval; no subprocess unless
``vcgencmd`` exists and the sysfs file does not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

THERMAL_ROOT = Path("/sys/class/thermal")
THROTTLED_PATH = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")

# Raspberry Pi firmware get_throttled bits.
_UNDER_VOLTAGE_NOW = 1 << 0
_THROTTLED_NOW = 1 << 2
_UNDER_VOLTAGE_OCCURRED = 1 << 16
_THROTTLED_OCCURRED = 1 << 18

R = TypeVar("R")


@dataclass(frozen=True)
class SystemMetrics:
    cpu_percent: float | None
    load_1m: float | None
    load_5m: float | None
    load_15m: float | None
    memory_total_bytes: int | None
    memory_available_bytes: int | None
    memory_percent: float | None
    disk_total_bytes: int | None
    disk_free_bytes: int | None
    disk_percent: float | None
    temperature_c: float | None
    throttled_raw: int | None
    under_voltage_now: bool | None
    throttled_now: bool | None
    under_voltage_occurred: bool | None
    throttled_occurred: bool | None
    uptime_s: float | None
    process_rss_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the telemetry status object."""
        return asdict(self)


def decode_throttled(text: str) -> int | None:
    """The throttled bit field from ``throttled=0x50005`` or a bare ``50005``/``0x5``."""
    value = text.strip()
    if "=" in value:
        value = value.split("=", 1)[1].strip()
    try:
        return int(value, 16)
    except ValueError:
        return None


class SystemMetricsProbe:
    """Takes snapshots. Keep one per process: CPU percent is measured between calls."""

    def __init__(
        self,
        data_dir: Path,
        *,
        thermal_root: Path = THERMAL_ROOT,
        throttled_path: Path = THROTTLED_PATH,
        vcgencmd: str | None = "vcgencmd",
    ) -> None:
        self.data_dir = data_dir
        self.thermal_root = thermal_root
        self.throttled_path = throttled_path
        self.vcgencmd = vcgencmd
        self._process: psutil.Process | None = None
        try:
            self._process = psutil.Process()
            # The first call only primes psutil's counters (it would report 0.0).
            psutil.cpu_percent(interval=None)
        except (psutil.Error, OSError):
            self._process = None

    def snapshot(self) -> SystemMetrics:
        load = _safe(os.getloadavg)
        mem = _safe(psutil.virtual_memory)
        disk = _safe(lambda: psutil.disk_usage(str(self.data_dir)))
        throttled = self.read_throttled()
        boot = _safe(psutil.boot_time)
        process = self._process
        rss = _safe(lambda: process.memory_info().rss) if process is not None else None
        return SystemMetrics(
            cpu_percent=_safe(lambda: psutil.cpu_percent(interval=None)),
            load_1m=load[0] if load else None,
            load_5m=load[1] if load else None,
            load_15m=load[2] if load else None,
            memory_total_bytes=mem.total if mem else None,
            memory_available_bytes=mem.available if mem else None,
            memory_percent=mem.percent if mem else None,
            disk_total_bytes=disk.total if disk else None,
            disk_free_bytes=disk.free if disk else None,
            disk_percent=disk.percent if disk else None,
            temperature_c=self.read_temperature_c(),
            throttled_raw=throttled,
            under_voltage_now=_bit(throttled, _UNDER_VOLTAGE_NOW),
            throttled_now=_bit(throttled, _THROTTLED_NOW),
            under_voltage_occurred=_bit(throttled, _UNDER_VOLTAGE_OCCURRED),
            throttled_occurred=_bit(throttled, _THROTTLED_OCCURRED),
            uptime_s=max(0.0, time.time() - boot) if boot is not None else None,
            process_rss_bytes=rss,
        )

    def read_temperature_c(self) -> float | None:
        """The SoC temperature: the first sysfs thermal zone (the CPU on a Pi), else psutil."""
        try:
            zones = sorted(self.thermal_root.glob("thermal_zone*/temp"))
        except OSError:
            zones = []
        for zone in zones:
            try:
                return int(zone.read_text().strip()) / 1000.0
            except (OSError, ValueError):
                continue
        sensors = getattr(psutil, "sensors_temperatures", None)
        readings = _safe(sensors) if sensors is not None else None
        if readings:
            for name in ("cpu_thermal", "coretemp", "k10temp", "soc_thermal", "cpu-thermal"):
                if readings.get(name):
                    return float(readings[name][0].current)
            for entries in readings.values():
                if entries:
                    return float(entries[0].current)
        return None

    def read_throttled(self) -> int | None:
        """Raspberry Pi throttling bits from sysfs or ``vcgencmd get_throttled``."""
        try:
            return decode_throttled(self.throttled_path.read_text())
        except OSError:
            pass
        if self.vcgencmd is None:
            return None
        exe = shutil.which(self.vcgencmd)
        if exe is None:
            return None
        try:
            done = subprocess.run(
                [exe, "get_throttled"], capture_output=True, text=True, timeout=2, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return decode_throttled(done.stdout) if done.returncode == 0 else None


def _bit(value: int | None, mask: int) -> bool | None:
    return None if value is None else bool(value & mask)


def _safe(fn: Callable[[], R]) -> R | None:
    """``fn()``, or None when the platform cannot answer."""
    try:
        return fn()
    except (OSError, psutil.Error, AttributeError, NotImplementedError, ValueError):
        return None
