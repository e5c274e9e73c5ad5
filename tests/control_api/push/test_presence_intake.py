"""The presence intake without a broker: paho's thread is never blocked, nothing raises,
what is ignored is counted and logged once per kind."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest

from control_api.metrics import Metrics
from control_api.presence_intake import PresenceIntake
from control_api.store.presence import Recorded
from lomuz_rules.push import PresenceState, encode_presence, presence_topic

pytestmark = pytest.mark.timeout(30)
AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class RecordingStore:
    """Records what it is asked to store; can be held (a slow database) or fail."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.calls: list[tuple[str, PresenceState, datetime]] = []
        self.release = threading.Event()
        self.release.set()
        self.failing = {"dev_broken"}  # the database errors on these

    def __call__(self, device_id: str, state: PresenceState, at: datetime) -> Recorded:
        self.release.wait(10)
        if device_id in self.failing:
            raise RuntimeError("database is down")
        self.calls.append((device_id, state, at))
        return "recorded" if device_id in self.known else "unknown_device"


def _count(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value("lomuz_presence_messages_total", {"outcome": outcome})
    return value or 0.0


def _intake(store: RecordingStore, max_queued: int = 100) -> tuple[PresenceIntake, Metrics]:
    metrics = Metrics()
    intake = PresenceIntake(store, metrics, lambda: AT, max_queued=max_queued)
    intake.start()
    return intake, metrics


def test_a_valid_message_is_stored_with_the_time_received() -> None:
    store = RecordingStore({"dev_a"})
    intake, metrics = _intake(store)
    try:
        intake.offer(presence_topic("dev_a"), encode_presence("offline"))
        assert intake.wait_idle(5)
        assert store.calls == [("dev_a", "offline", AT)]
        assert _count(metrics, "recorded") == 1
    finally:
        intake.stop()


def test_a_slow_database_never_blocks_the_caller_and_a_full_backlog_drops() -> None:
    store = RecordingStore({"dev_a"})
    store.release.clear()  # the database hangs
    intake, metrics = _intake(store, max_queued=3)
    try:
        for _ in range(10):  # would block forever if offer waited for the database
            intake.offer(presence_topic("dev_a"), encode_presence("online"))
        # One is being stored (held), three wait, the rest are dropped.
        assert _count(metrics, "dropped") >= 6
        store.release.set()
        assert intake.wait_idle(5)
        assert len(store.calls) + _count(metrics, "dropped") == 10
    finally:
        store.release.set()
        intake.stop()


def test_bad_input_and_database_errors_are_counted_logged_once_and_survived(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RecordingStore({"dev_a"})
    intake, metrics = _intake(store)
    caplog.set_level(logging.WARNING, "control_api.presence_intake")
    try:
        for _ in range(3):
            intake.offer(presence_topic("dev_a"), b'{"state": "maybe"}')
            intake.offer("lomuz/v1/devices/dev_a/nudge", encode_presence("online"))
            intake.offer(presence_topic("dev_ghost"), encode_presence("online"))
        intake.offer(presence_topic("dev_a"), b"")  # a retained state cleared: no count
        intake.offer(presence_topic("dev_broken"), encode_presence("online"))
        intake.offer(presence_topic("dev_a"), encode_presence("online"))
        assert intake.wait_idle(5)
        assert _count(metrics, "bad_payload") == 3
        assert _count(metrics, "bad_topic") == 3
        assert _count(metrics, "unknown_device") == 3
        assert _count(metrics, "failed") == 1
        assert store.calls[-1] == ("dev_a", "online", AT)  # the thread lived on
        assert len(caplog.records) == 4, [r.getMessage() for r in caplog.records]
    finally:
        intake.stop()


def test_stop_ends_the_thread_after_what_was_queued() -> None:
    store = RecordingStore({"dev_a"})
    intake, _ = _intake(store)
    intake.offer(presence_topic("dev_a"), encode_presence("online"))
    intake.stop()
    assert store.calls == [("dev_a", "online", AT)]
    assert not any(t.name == "lomuz-presence" and t.is_alive() for t in threading.enumerate())
