"""System metrics: real psutil readings plus fake sysfs trees for Pi-only values."""

from __future__ import annotations

import json
from pathlib import Path

from player.adapters.system_metrics import SystemMetricsProbe, decode_throttled


def test_snapshot_has_real_readings_and_is_json_ready(tmp_path: Path) -> None:
    probe = SystemMetricsProbe(
        tmp_path, thermal_root=tmp_path / "none", throttled_path=tmp_path / "none", vcgencmd=None
    )

    metrics = probe.snapshot()

    assert metrics.memory_total_bytes is not None
    assert metrics.memory_total_bytes > 0
    assert metrics.disk_total_bytes is not None
    assert metrics.disk_free_bytes is not None
    assert 0 <= metrics.disk_free_bytes <= metrics.disk_total_bytes
    assert metrics.cpu_percent is not None
    assert 0 <= metrics.cpu_percent <= 100
    assert metrics.uptime_s is not None
    assert metrics.uptime_s > 0
    assert metrics.throttled_raw is None
    assert metrics.under_voltage_now is None
    assert (
        json.loads(json.dumps(metrics.to_json()))["memory_total_bytes"]
        == metrics.memory_total_bytes
    )


def test_sysfs_temperature_and_throttling_are_decoded(tmp_path: Path) -> None:
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("48500\n")
    throttled = tmp_path / "get_throttled"
    throttled.write_text("50005\n")

    metrics = SystemMetricsProbe(
        tmp_path, thermal_root=tmp_path / "thermal", throttled_path=throttled, vcgencmd=None
    ).snapshot()

    assert metrics.temperature_c == 48.5
    assert metrics.throttled_raw == 0x50005
    assert metrics.under_voltage_now is True
    assert metrics.throttled_now is True
    assert metrics.under_voltage_occurred is True
    assert metrics.throttled_occurred is True


def test_vcgencmd_is_used_when_sysfs_is_absent(tmp_path: Path) -> None:
    tool = tmp_path / "vcgencmd"
    tool.write_text("#!/bin/sh\necho throttled=0x10000\n")
    tool.chmod(0o755)

    metrics = SystemMetricsProbe(
        tmp_path, throttled_path=tmp_path / "absent", vcgencmd=str(tool)
    ).snapshot()

    assert metrics.throttled_raw == 0x10000
    assert metrics.under_voltage_now is False
    assert metrics.under_voltage_occurred is True


def test_missing_everything_gives_none_not_an_exception(tmp_path: Path) -> None:
    probe = SystemMetricsProbe(
        tmp_path / "no-such-data-dir",
        thermal_root=tmp_path / "no-thermal",
        throttled_path=tmp_path / "no-throttled",
        vcgencmd="definitely-not-a-command",
    )

    metrics = probe.snapshot()

    assert metrics.disk_total_bytes is None
    assert metrics.throttled_raw is None


def test_decode_throttled_forms() -> None:
    assert decode_throttled("throttled=0x50005\n") == 0x50005
    assert decode_throttled("0x0") == 0
    assert decode_throttled("garbage") is None
