"""What a director is shown of a device's alerts: pure, over the rows the store read.

Alerts are kept per webhook (:mod:`control_api.core.alerts`), but the director
asks of the device: is it in trouble, since when, and did the receivers hear of
it. So:

- an open kind is one line however many webhooks hold it, open since the
  earliest of their openings (when the first receiver was told);
- one event is the deliveries one transition queued, one per subscribed
  webhook: same type, same instant (a telemetry report, or a round of the
  sweep, writes all of its deliveries with one ``now``). Two webhooks with
  different thresholds hear of one outage at different instants: two lines;
- an event is ``failed`` when any of its deliveries failed for good,
  ``pending`` while any is still to be (re)tried, else ``delivered``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from control_api.core.alerts import AlertKind

_KIND_ORDER = {kind.value: i for i, kind in enumerate(AlertKind)}


@dataclass(frozen=True)
class OpenAlert:
    """One webhook's open alert of one device."""

    device_id: str
    kind: str
    opened_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One webhook's delivery of one event (the outbox row, without its body)."""

    event_type: str
    created_at: datetime
    state: str  # pending | delivered | failed
    attempts: int
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True)
class AlertEvent:
    """One event of the device, across the webhooks it went to."""

    event_type: str
    at: datetime
    state: str  # delivered | pending | failed
    receivers: int
    delivered: int
    failed: int
    last_problem: str | None  # why an attempt failed (an error or HTTP status), if one did


def open_kinds(alerts: Iterable[OpenAlert]) -> list[OpenAlert]:
    """One alert per kind (the earliest opening), in the kinds' order."""
    first: dict[str, OpenAlert] = {}
    for alert in alerts:
        held = first.get(alert.kind)
        if held is None or alert.opened_at < held.opened_at:
            first[alert.kind] = alert
    return sorted(first.values(), key=lambda a: (_KIND_ORDER.get(a.kind, len(_KIND_ORDER)), a.kind))


def open_kinds_by_device(alerts: Iterable[OpenAlert]) -> dict[str, list[OpenAlert]]:
    """:func:`open_kinds` of each device that has any."""
    grouped: dict[str, list[OpenAlert]] = {}
    for alert in alerts:
        grouped.setdefault(alert.device_id, []).append(alert)
    return {device_id: open_kinds(found) for device_id, found in grouped.items()}


def _problem(d: Delivery) -> str | None:
    if d.attempts == 0 or d.state == "delivered":
        return None
    if d.last_error:
        return d.last_error
    return None if d.last_status is None else f"HTTP {d.last_status}"


def events(deliveries: Iterable[Delivery], limit: int) -> list[AlertEvent]:
    """The newest ``limit`` events, newest first; ``deliveries`` in any order."""
    grouped: dict[tuple[datetime, str], list[Delivery]] = {}
    for d in deliveries:
        grouped.setdefault((d.created_at, d.event_type), []).append(d)
    found = []
    for (at, event_type), group in sorted(grouped.items(), reverse=True)[:limit]:
        states = [d.state for d in group]
        state = (
            "failed" if "failed" in states else "pending" if "pending" in states else "delivered"
        )
        problems = [p for d in group if (p := _problem(d)) is not None]
        found.append(
            AlertEvent(
                event_type=event_type,
                at=at,
                state=state,
                receivers=len(group),
                delivered=states.count("delivered"),
                failed=states.count("failed"),
                last_problem=problems[0] if problems else None,
            )
        )
    return found
