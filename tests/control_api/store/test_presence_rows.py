"""Presence rows with API workers that lag behind each other: no old state over a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_api.core.validation import format_instant
from control_api.services import alerts
from control_api.services.alerts import KEEP_LOG
from control_api.services.presence import record_presence
from tests.control_api.conftest import Api

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_lagging_worker_never_stores_an_older_state_over_a_newer_one(api: Api) -> None:
    admin = api.tenant()
    device_id, _ = api.device(admin, name="box")
    # Worker A handles online then offline; worker B received the same two messages
    # a few milliseconds later (its own clock) and stores them only afterwards.
    online_at, offline_at = T0, T0 + timedelta(seconds=5)
    lag = timedelta(milliseconds=3)
    assert record_presence(api.db, device_id, "online", online_at) == "recorded"
    assert record_presence(api.db, device_id, "offline", offline_at) == "recorded"
    assert record_presence(api.db, device_id, "online", online_at + lag) == "unchanged"
    assert record_presence(api.db, device_id, "offline", offline_at + lag) == "unchanged"
    shown = api.call("GET", f"/v1/devices/{device_id}", admin).json
    assert shown["presence"]["state"] == "offline"
    listed = api.call("GET", f"/v1/devices/{device_id}/presence", admin).json
    assert [e["state"] for e in listed["items"]] == ["offline", "online"]
    # A later change is stored as usual.
    assert record_presence(api.db, device_id, "online", offline_at + timedelta(seconds=1)) == (
        "recorded"
    )


def test_the_sweep_forgets_transitions_older_than_the_log_keeps(api: Api) -> None:
    """A flapping box must not grow the table for ever: the alerts sweep prunes
    transitions past KEEP_LOG (30 days), oldest first, and keeps the recent ones."""
    admin = api.tenant()
    device_id, _ = api.device(admin, name="flapping")
    old = [T0 - KEEP_LOG - timedelta(hours=10 - i) for i in range(6)]
    for at, state in zip(old, ["online", "offline"] * 3, strict=True):
        assert record_presence(api.db, device_id, state, at) == "recorded"  # type: ignore[arg-type]
    recent_at = T0 - timedelta(days=1)
    assert record_presence(api.db, device_id, "online", recent_at) == "recorded"
    alerts.sweep(api.db, T0, interval_s=60)
    listed = api.call("GET", f"/v1/devices/{device_id}/presence", admin).json
    assert [(e["state"], e["at"]) for e in listed["items"]] == [
        ("online", format_instant(recent_at))
    ]
    assert api.call("GET", f"/v1/devices/{device_id}", admin).json["presence"]["state"] == "online"
