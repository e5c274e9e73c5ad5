"""Alerts: telemetry and the offline sweep open and close them; each event becomes a
delivery row per webhook (``control_api.core.alerts``: the rules).

Telemetry is evaluated in the request's own write transaction: one query for
the tenant's webhooks (none: done), one for the device's open alerts, then
conditional writes. No HTTP on that path: the sender thread posts later.

The panel reads them here too (``device_alert_summary``, ``fleet_alerts``):
tenant-scoped queries, summarised by ``control_api.core.alert_summary``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from control_api.core import alert_summary as summary
from control_api.core import alerts as rules
from control_api.core.device_health import Telemetry, summarise
from control_api.core.presence import is_online
from control_api.core.validation import format_instant
from control_api.core.webhooks import event_body
from control_api.services.webhooks import MAX_WEBHOOKS_PER_TENANT
from control_api.store import devices as device_rows
from control_api.store import presence as presence_rows
from control_api.store import repository as repo
from control_api.store import webhooks as rows
from control_api.store.db import Database
from control_api.store.models import Device, Webhook, WebhookDelivery

SWEEP_PAGE = 500
KEEP_LOG = timedelta(days=30)


def device_presence(device: Device, now: datetime, telemetry_interval_s: int) -> rules.Presence:
    """The one place alerts learn whether a device is online and since when it is silent.

    With MQTT presence, its state, silent since the will said "offline"; without it,
    ``last_seen_at`` within three telemetry intervals (``core.presence``).
    """
    online = is_online(
        device.presence_state,
        device.presence_changed_at,
        device.last_seen_at,
        now,
        telemetry_interval_s,
    )
    silent_since = device.last_seen_at
    if device.presence_state == "offline" and device.presence_changed_at is not None:
        silent_since = device.presence_changed_at
    return rules.Presence(online=online, silent_since=silent_since)


def _thresholds(webhook: Webhook) -> rules.Thresholds:
    return rules.Thresholds(webhook.offline_after_s, webhook.sync_failures)


def _apply(
    s: Session,
    webhook: Webhook,
    device: Device,
    found: Iterable[rules.Transition],
    now: datetime,
) -> int:
    """Write the transitions; queue a delivery for each one this call made. How many."""
    queued = 0
    subscribed = set(webhook.events)
    for t in found:
        key = {"webhook_id": webhook.id, "device_id": device.id, "kind": t.kind.value}
        if t.opened:
            changed = rows.open_alert(s, tenant_id=device.tenant_id, now=now, **key)
        else:
            changed = rows.close_alert(s, **key)
        if changed and t.event is not None and t.event in subscribed:
            s.add(_delivery(webhook, device, t, now))
            queued += 1
    return queued


def _delivery(
    webhook: Webhook, device: Device, t: rules.Transition, now: datetime
) -> WebhookDelivery:
    event_id = repo.new_id("evt")
    created_at = format_instant(now) or ""
    body = event_body(
        event_id=event_id,
        event_type=str(t.event),
        created_at=created_at,
        tenant_id=device.tenant_id,
        device={"id": device.id, "name": device.name},
        data=t.data,
    )
    return WebhookDelivery(
        id=repo.new_id("dlv"),
        event_id=event_id,
        tenant_id=device.tenant_id,
        webhook_id=webhook.id,
        device_id=device.id,
        event_type=str(t.event),
        body=body,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def on_telemetry(
    s: Session, device: Device, status: object, now: datetime, telemetry_interval_s: int
) -> int:
    """Evaluate the device's alerts on the report it just sent; deliveries queued."""
    webhooks = rows.tenant_webhooks(s, device.tenant_id)
    if not webhooks:
        return 0
    telemetry: Telemetry = summarise(status)
    presence = device_presence(device, now, telemetry_interval_s)
    open_by_webhook = rows.open_alerts(s, device.tenant_id, device.id)
    queued = 0
    for webhook in webhooks:
        open_kinds = {rules.AlertKind(k) for k in open_by_webhook.get(webhook.id, ())}
        found = rules.transitions(
            open_kinds,
            rules.tracked_kinds(webhook.events),
            presence=presence,
            telemetry=telemetry,
            thresholds=_thresholds(webhook),
            now=now,
        )
        queued += _apply(s, webhook, device, found, now)
    return queued


def sweep(db: Database, now: datetime, interval_s: int) -> int:
    """Open offline alerts of devices silent too long, close those of devices back
    (any request counts, not only telemetry), and prune the delivery log and the
    presence transitions older than ``KEEP_LOG``.
    Deliveries queued. ``interval_s``: the telemetry interval."""
    with db.read() as s:
        webhooks = rows.all_webhooks(s)
    webhooks = [w for w in webhooks if rules.AlertKind.OFFLINE in rules.tracked_kinds(w.events)]
    queued = 0
    for webhook in webhooks:
        after = ""
        while True:
            # Read, then write only what changes: the writes are conditional, so a
            # state another worker changed meanwhile is never written twice.
            with db.read() as s:
                devices = rows.seen_devices(s, webhook.tenant_id, after, SWEEP_PAGE)
                open_offline = rows.webhook_open_alerts(s, webhook.id, rules.AlertKind.OFFLINE)
            if not devices:
                break
            changes = [
                (device, found)
                for device in devices
                if (found := _offline_transitions(webhook, device, open_offline, now, interval_s))
            ]
            if changes:
                with db.write() as s:
                    for device, found in changes:
                        # Held until commit: a decommission cannot leave an orphan alert.
                        if device_rows.lock_device_target(s, device.tenant_id, device.id):
                            queued += _apply(s, webhook, device, found, now)
            after = devices[-1].id
    with db.write() as s:
        rows.prune_deliveries(s, now - KEEP_LOG)
        presence_rows.prune_presence_events(s, now - KEEP_LOG)
    return queued


def _offline_transitions(
    webhook: Webhook,
    device: Device,
    open_offline: dict[str, set[str]],
    now: datetime,
    interval_s: int,
) -> list[rules.Transition]:
    return rules.transitions(
        {rules.AlertKind(k) for k in open_offline.get(device.id, ())},
        {rules.AlertKind.OFFLINE},
        presence=device_presence(device, now, interval_s),
        telemetry=None,
        thresholds=_thresholds(webhook),
        now=now,
    )


# ------------------------------------------------------------------ what the panel shows


@dataclass(frozen=True)
class DeviceAlerts:
    """A device's alerts as its page shows them (``core.alert_summary``)."""

    has_webhooks: bool  # none: no alerts are kept for the tenant at all
    open: list[summary.OpenAlert]  # one per kind
    events: list[summary.AlertEvent]  # newest first


@dataclass(frozen=True)
class FleetAlerts:
    """The fleet page's alerts: the table's devices' open kinds, and the box above it."""

    has_webhooks: bool
    by_device: dict[str, list[summary.OpenAlert]]  # the table's devices that have any
    alerted: list[tuple[Device, list[summary.OpenAlert]]]  # the box: by name
    alerted_total: int  # devices of the tenant with an open alert


def device_alert_summary(
    db: Database, tenant_id: str, device_id: str, events_limit: int
) -> DeviceAlerts:
    """The device's open alerts and its last ``events_limit`` events. Only the tenant's
    rows are read: another tenant's device id gives nothing (its page is a 404 before)."""
    with db.read() as s:
        has_webhooks = rows.count_webhooks(s, tenant_id) > 0
        alerts = rows.devices_open_alerts(s, tenant_id, [device_id])
        # Each event is one delivery per webhook: enough rows for the events asked for.
        limit = events_limit * MAX_WEBHOOKS_PER_TENANT
        deliveries = rows.recent_device_deliveries(s, tenant_id, device_id, limit)
    return DeviceAlerts(
        has_webhooks, summary.open_kinds(alerts), summary.events(deliveries, events_limit)
    )


def open_alerts_by_device(
    db: Database, tenant_id: str, device_ids: Collection[str]
) -> dict[str, list[summary.OpenAlert]]:
    """The open kinds of each of these devices of the tenant that has any (one query)."""
    with db.read() as s:
        return summary.open_kinds_by_device(rows.devices_open_alerts(s, tenant_id, device_ids))


def fleet_alerts(
    db: Database, tenant_id: str, device_ids: Collection[str], box_limit: int
) -> FleetAlerts:
    """:func:`open_alerts_by_device` of the table's devices, plus the first ``box_limit``
    devices of the whole tenant with an open alert (four queries in all)."""
    with db.read() as s:
        has_webhooks = rows.count_webhooks(s, tenant_id) > 0
        alerted, total = rows.tenant_alerted_devices(s, tenant_id, box_limit)
        wanted = set(device_ids) | {d.id for d in alerted}
        by_device = summary.open_kinds_by_device(rows.devices_open_alerts(s, tenant_id, wanted))
    return FleetAlerts(
        has_webhooks=has_webhooks,
        by_device={i: by_device[i] for i in device_ids if i in by_device},
        alerted=[(d, by_device.get(d.id, [])) for d in alerted],
        alerted_total=total,
    )
