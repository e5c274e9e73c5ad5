"""What the panel shows of a device's alerts, from per-webhook rows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_api.core.alert_summary import Delivery, OpenAlert, events, open_kinds
from control_api.core.alert_summary import open_kinds_by_device as by_device

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _delivery(
    event_type: str, minutes: int, state: str, attempts: int = 1, status: int | None = None
) -> Delivery:
    return Delivery(event_type, _at(minutes), state, attempts, status, None)


def test_a_kind_held_by_several_webhooks_is_one_alert_open_since_the_first() -> None:
    found = open_kinds(
        [
            OpenAlert("dev_1", "storage_full", _at(5)),
            OpenAlert("dev_1", "storage_full", _at(2)),
            OpenAlert("dev_1", "offline", _at(9)),
        ]
    )
    assert [(a.kind, a.opened_at) for a in found] == [("offline", _at(9)), ("storage_full", _at(2))]


def test_by_device_keeps_devices_apart() -> None:
    found = by_device(
        [OpenAlert("dev_1", "offline", _at(1)), OpenAlert("dev_2", "offline", _at(3))]
    )
    assert {d: [a.opened_at for a in alerts] for d, alerts in found.items()} == {
        "dev_1": [_at(1)],
        "dev_2": [_at(3)],
    }


def test_one_event_per_transition_newest_first_and_limited() -> None:
    found = events(
        [
            _delivery("device.offline", 1, "delivered"),
            _delivery("device.offline", 1, "delivered"),
            _delivery("device.online", 4, "delivered"),
            _delivery("device.offline", 7, "delivered"),
        ],
        limit=2,
    )
    assert [(e.event_type, e.at, e.receivers) for e in found] == [
        ("device.offline", _at(7), 1),
        ("device.online", _at(4), 1),
    ]


def test_an_event_fails_when_one_receiver_failed_and_is_pending_while_one_is() -> None:
    failed, pending, delivered = events(
        [
            _delivery("device.storage_full", 3, "failed", 15, status=500),
            _delivery("device.storage_full", 3, "pending", 2, status=502),
            _delivery("device.storage_full", 3, "delivered"),
            _delivery("device.sync_failing", 2, "pending", 0),
            _delivery("device.sync_failing", 2, "delivered"),
            _delivery("device.offline", 1, "delivered"),
        ],
        limit=10,
    )
    assert (failed.state, failed.receivers, failed.failed, failed.delivered) == ("failed", 3, 1, 1)
    assert failed.last_problem in ("HTTP 500", "HTTP 502")
    assert (pending.state, pending.last_problem) == ("pending", None)  # not tried yet
    assert delivered.state == "delivered"
