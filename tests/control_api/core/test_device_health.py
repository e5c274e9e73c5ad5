"""Device health at a glance, from whatever telemetry a device sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core.device_health import (
    DISK_NEARLY_FULL_PERCENT,
    HOT_C,
    SYNC_STALE,
    TOO_HOT_C,
    Level,
    device_health,
    summarise,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SEEN = NOW - timedelta(seconds=30)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "at",
    "now_playing",
    "downloads",
    "cache",
    "system",
    "clock",
    "versions",
    "last_sync_ok_at",
    "last_sync_error",
    "storage_full",
]
INNER = [
    "state",
    "tier",
    "asset_id",
    "pending",
    "failing",
    "size_bytes",
    "files",
    "disk_percent",
    "temperature_c",
    "throttled_now",
    "under_voltage_now",
    "trusted",
    "offset_s",
    "player",
]
# Shaped like a report, every leaf hostile: reaches the fields the rule reads.
shaped_reports = st.dictionaries(
    st.sampled_from(KEYS),
    json_values | st.dictionaries(st.sampled_from(INNER), json_values, max_size=6),
    max_size=len(KEYS),
)
instants = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(json_values | shaped_reports, instants, st.booleans())
def test_any_telemetry_gives_a_level_and_never_raises(
    status: Any, seen: datetime | None, online: bool
) -> None:
    health = device_health(seen, online and seen is not None, summarise(status), NOW)
    if seen is None:
        assert health.level is Level.GREY
    elif not online:
        assert health.level is Level.RED and "offline" in health.reasons
    assert (health.level is Level.GREEN) == (not health.reasons)


def _health(status: dict[str, Any], *, online: bool = True) -> tuple[Level, tuple[str, ...]]:
    health = device_health(SEEN, online, summarise(status), NOW)
    return health.level, health.reasons


def _report(**over: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "at": "2026-12-02T11:59:50Z",
        "versions": {"player": "1.4.0", "libvlc": "3.0.21"},
        "now_playing": {"state": "playing", "tier": "playlist", "asset_id": "ast-1"},
        "last_sync_ok_at": "2026-12-02T11:58:00Z",
        "last_sync_error": None,
        "cache": {"files": 12, "size_bytes": 345_000_000},
        "storage_full": False,
        "clock": {"trusted": True, "offset_s": 0.01},
        "downloads": {"pending": 0, "failing": []},
        "system": {
            "disk_percent": 40.0,
            "temperature_c": 51.0,
            "throttled_now": False,
            "under_voltage_now": False,
        },
    }
    report.update(over)
    return report


def test_a_healthy_report_is_green_and_its_fields_are_read() -> None:
    assert _health(_report()) == (Level.GREEN, ())
    t = summarise(_report())
    assert (t.playing_tier, t.playing_asset_id, t.player_version) == ("playlist", "ast-1", "1.4.0")
    assert t.cache_bytes == 345_000_000 and t.downloads_pending == 0 and t.clock_trusted is True
    assert t.last_sync_at == datetime(2026, 12, 2, 11, 58, tzinfo=UTC)


def test_never_seen_is_grey_and_offline_is_red_whatever_the_report() -> None:
    assert device_health(None, False, summarise(None), NOW).level is Level.GREY
    assert _health(_report(), online=False) == (Level.RED, ("offline",))


@pytest.mark.parametrize(
    ("over", "level", "reason"),
    [
        ({"clock": {"trusted": False}}, Level.AMBER, "clock not trusted"),
        ({"system": {"disk_percent": DISK_NEARLY_FULL_PERCENT}}, Level.AMBER, "disk 90% full"),
        ({"storage_full": True}, Level.RED, "storage full"),
        ({"system": {"temperature_c": HOT_C}}, Level.AMBER, "hot (75 °C)"),
        ({"system": {"temperature_c": TOO_HOT_C}}, Level.RED, "hot (85 °C)"),
        ({"system": {"throttled_now": True}}, Level.AMBER, "throttled"),
        ({"system": {"under_voltage_now": True}}, Level.AMBER, "under-voltage"),
        ({"downloads": {"pending": 3, "failing": [{}, {}]}}, Level.AMBER, "2 download(s) failing"),
        ({"last_sync_error": "HTTP 503"}, Level.AMBER, "sync failing"),
        (
            {"last_sync_ok_at": (NOW - SYNC_STALE - timedelta(seconds=1)).isoformat()},
            Level.AMBER,
            "no sync for over 6 h",
        ),
        ({"now_playing": {"state": "no_audio"}}, Level.RED, "no sound output"),
        ({"now_playing": {"state": "silence"}}, Level.AMBER, "not playing (silence)"),
    ],
)
def test_each_problem_sets_its_level_and_says_why(
    over: dict[str, Any], level: Level, reason: str
) -> None:
    assert _health(_report(**over)) == (level, (reason,))


def test_the_worst_problem_sets_the_level_and_every_reason_is_kept() -> None:
    level, reasons = _health(_report(clock={"trusted": False}, storage_full=True), online=False)
    assert level is Level.RED
    assert reasons == ("offline", "storage full", "clock not trusted")


@pytest.mark.parametrize(
    "status",
    [
        {"system": {"temperature_c": True, "disk_percent": "99"}},
        {"system": {"temperature_c": float("nan")}},
        {"clock": {"trusted": "no"}, "storage_full": 1},
        {"last_sync_ok_at": "2026-12-01T00:00:00"},  # no zone: not an instant
        {"downloads": {"pending": -4, "failing": "many"}},
    ],
)
def test_values_of_the_wrong_type_count_as_not_reported(status: dict[str, Any]) -> None:
    assert _health(status) == (Level.GREEN, ())


@pytest.mark.parametrize(
    ("push", "shown"),
    [
        ({"state": "connected"}, "connected"),
        ({"state": "disconnected"}, "disconnected"),
        ({"state": "off"}, "off"),
        ({"state": "CONNECTED"}, None),
        ({"state": ["connected"]}, None),
        ("connected", None),
        (None, None),
    ],
)
def test_the_push_state_is_read_only_when_it_is_one_the_player_reports(
    push: object, shown: str | None
) -> None:
    t = summarise(_report(push=push))
    assert t.push_state == shown
    assert _health(_report(push=push)) == (Level.GREEN, ())  # polling is no problem
