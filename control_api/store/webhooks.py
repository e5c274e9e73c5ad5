"""Webhooks' rows: the receivers, their open alerts and the delivery outbox/log.

Opening an alert is an insert that does nothing when the row exists, closing
it a delete: the caller sends the event only when its statement changed a row,
so concurrent workers (telemetry on two processes, two sweeps) never send one
event twice. Senders claim due deliveries with a lease (``claim_due``) and
write the outcome only while they hold it (``finish``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, defer

from control_api.core.alert_summary import Delivery, OpenAlert
from control_api.errors import NotFound
from control_api.store.models import Device, Webhook, WebhookAlert, WebhookDelivery
from control_api.store.repository import decode_after, encode_after

DONE_STATES = ("delivered", "failed")


def get_webhook(s: Session, tenant_id: str, webhook_id: str) -> Webhook:
    row = s.scalars(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return row


def count_webhooks(s: Session, tenant_id: str) -> int:
    return int(
        s.scalar(select(func.count()).select_from(Webhook).where(Webhook.tenant_id == tenant_id))
        or 0
    )


def page_webhooks(
    s: Session, tenant_id: str, limit: int, after: str | None
) -> tuple[list[Webhook], str | None]:
    """One page of the tenant's webhooks in id (creation) order."""
    stmt = select(Webhook).where(Webhook.tenant_id == tenant_id)
    if after:
        stmt = stmt.where(Webhook.id > decode_after(after))
    found = list(s.scalars(stmt.order_by(Webhook.id).limit(limit + 1)))
    if len(found) > limit:
        return found[:limit], encode_after(found[limit - 1].id)
    return found, None


def tenant_webhooks(s: Session, tenant_id: str) -> list[Webhook]:
    """The tenant's webhooks (telemetry's one query when it has none)."""
    return list(s.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id)))


def all_webhooks(s: Session) -> list[Webhook]:
    return list(s.scalars(select(Webhook).order_by(Webhook.tenant_id, Webhook.id)))


def delete_webhook(s: Session, tenant_id: str, webhook_id: str) -> None:
    """The webhook, its open alerts and its deliveries (their log goes with it)."""
    get_webhook(s, tenant_id, webhook_id)
    s.execute(delete(WebhookAlert).where(WebhookAlert.webhook_id == webhook_id))
    s.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    s.execute(delete(Webhook).where(Webhook.id == webhook_id))


def delete_device_alerts(s: Session, tenant_id: str, device_id: str) -> None:
    """A decommissioned device's open alerts and deliveries."""
    for model in (WebhookAlert, WebhookDelivery):
        s.execute(delete(model).where(model.tenant_id == tenant_id, model.device_id == device_id))


def open_alerts(s: Session, tenant_id: str, device_id: str) -> dict[str, set[str]]:
    """The device's open alert kinds, by webhook id."""
    found: dict[str, set[str]] = {}
    rows = s.execute(
        select(WebhookAlert.webhook_id, WebhookAlert.kind).where(
            WebhookAlert.tenant_id == tenant_id, WebhookAlert.device_id == device_id
        )
    )
    for webhook_id, kind in rows:
        found.setdefault(webhook_id, set()).add(kind)
    return found


def devices_open_alerts(s: Session, tenant_id: str, device_ids: Collection[str]) -> list[OpenAlert]:
    """Every webhook's open alerts of these devices of the tenant (one query; the panel)."""
    if not device_ids:
        return []
    rows = s.execute(
        select(WebhookAlert.device_id, WebhookAlert.kind, WebhookAlert.opened_at).where(
            WebhookAlert.tenant_id == tenant_id, WebhookAlert.device_id.in_(list(device_ids))
        )
    )
    return [OpenAlert(device_id, kind, opened_at) for device_id, kind, opened_at in rows]


def tenant_alerted_devices(s: Session, tenant_id: str, limit: int) -> tuple[list[Device], int]:
    """Up to ``limit`` of the tenant's devices with an open alert (by name, without
    their status blobs), and how many there are."""
    alerted = select(WebhookAlert.device_id).where(WebhookAlert.tenant_id == tenant_id)
    where = (Device.tenant_id == tenant_id, Device.id.in_(alerted.distinct().scalar_subquery()))
    total = int(s.scalar(select(func.count()).select_from(Device).where(*where)) or 0)
    if total == 0:
        return [], 0
    stmt = select(Device).options(defer(Device.status)).where(*where)
    return list(s.scalars(stmt.order_by(Device.name, Device.id).limit(limit))), total


def recent_device_deliveries(
    s: Session, tenant_id: str, device_id: str, limit: int
) -> list[Delivery]:
    """The device's newest ``limit`` deliveries to any webhook, without their bodies."""
    d = WebhookDelivery
    rows = s.execute(
        select(d.event_type, d.created_at, d.state, d.attempts, d.last_status, d.last_error)
        .where(d.tenant_id == tenant_id, d.device_id == device_id)
        .order_by(d.created_at.desc(), d.id.desc())
        .limit(limit)
    )
    return [Delivery(*row) for row in rows]


def webhook_open_alerts(s: Session, webhook_id: str, kind: str) -> dict[str, set[str]]:
    """The webhook's open alerts of ``kind``, by device id (the sweep)."""
    rows = s.scalars(
        select(WebhookAlert.device_id).where(
            WebhookAlert.webhook_id == webhook_id, WebhookAlert.kind == kind
        )
    )
    return {device_id: {kind} for device_id in rows}


def seen_devices(s: Session, tenant_id: str, after: str, limit: int) -> list[Device]:
    """A page (by id) of the tenant's devices ever seen, without their status blobs."""
    stmt = (
        select(Device)
        .options(defer(Device.status))
        .where(Device.tenant_id == tenant_id, Device.last_seen_at.is_not(None), Device.id > after)
        .order_by(Device.id)
        .limit(limit)
    )
    return list(s.scalars(stmt))


def open_alert(
    s: Session, *, webhook_id: str, tenant_id: str, device_id: str, kind: str, now: datetime
) -> bool:
    """Open the alert unless it is open; whether this call opened it."""
    values = {
        "webhook_id": webhook_id,
        "device_id": device_id,
        "kind": kind,
        "tenant_id": tenant_id,
        "opened_at": now,
    }
    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(WebhookAlert).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg's rowcount of this statement is not the rows inserted.
    return s.execute(stmt.returning(WebhookAlert.kind)).first() is not None


def close_alert(s: Session, *, webhook_id: str, device_id: str, kind: str) -> bool:
    """Close the alert if it is open; whether this call closed it."""
    result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
        delete(WebhookAlert).where(
            WebhookAlert.webhook_id == webhook_id,
            WebhookAlert.device_id == device_id,
            WebhookAlert.kind == kind,
        )
    )
    return result.rowcount == 1


def page_deliveries(
    s: Session, webhook_id: str, limit: int, after: str | None
) -> tuple[list[WebhookDelivery], str | None]:
    """One page of the webhook's deliveries, newest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if after:
        stmt = stmt.where(WebhookDelivery.id < decode_after(after))
    rows = list(s.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_after(rows[limit - 1].id)
    return rows, None


def _claimable(now: datetime) -> tuple[Any, ...]:
    return (
        WebhookDelivery.state == "pending",
        WebhookDelivery.next_attempt_at <= now,
        (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < now),
    )


def claim_due(
    s: Session, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due pending deliveries to ``owner``, oldest due first.

    The outer UPDATE repeats the conditions: on PostgreSQL a row another sender
    leased meanwhile is re-checked after its lock and skipped.
    """
    due = (
        select(WebhookDelivery.id)
        .where(*_claimable(now))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(due.scalar_subquery()), *_claimable(now))
        .values(lease_until=lease_until, lease_owner=owner)
        .execution_options(synchronize_session=False)
    )
    return list(
        s.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.lease_owner == owner, WebhookDelivery.lease_until == lease_until)
            .execution_options(populate_existing=True)
        )
    )


def webhooks_by_id(s: Session, webhook_ids: Collection[str]) -> dict[str, Webhook]:
    rows = s.scalars(select(Webhook).where(Webhook.id.in_(list(webhook_ids))))
    return {row.id: row for row in rows}


def finish(s: Session, delivery_id: str, owner: str, **values: Any) -> bool:
    """Write an attempt's outcome (and drop the lease) if ``owner`` still holds it."""
    result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_owner == owner)
        .values(lease_until=None, lease_owner=None, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def prune_deliveries(s: Session, before: datetime) -> int:
    """Delete delivered and failed deliveries created before ``before``; how many."""
    result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
        delete(WebhookDelivery).where(
            WebhookDelivery.state.in_(DONE_STATES), WebhookDelivery.created_at < before
        )
    )
    return int(result.rowcount)
