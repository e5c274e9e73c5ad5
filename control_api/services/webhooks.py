"""Webhooks: a director creates, lists, reads and deletes them and reads their
delivery log; the sender claims due deliveries and records each attempt.

The secret is generated here and shown once (the 201); a list or a read never
shows it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from control_api.core import webhooks as rules
from control_api.errors import Conflict, InvalidField
from control_api.services.pages import Page
from control_api.store import repository as repo
from control_api.store import webhooks as rows
from control_api.store.db import Database
from control_api.store.models import Webhook, WebhookDelivery

MAX_WEBHOOKS_PER_TENANT = 20
MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class NewWebhook:
    url: str
    events: Sequence[str]
    offline_after_s: int
    sync_failures: int


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    secret: str  # shown once


def create_webhook(
    db: Database, tenant_id: str, new: NewWebhook, *, now: datetime, allow_http: bool
) -> Created:
    problem = rules.url_problem(new.url, allow_http=allow_http)
    if problem is not None:
        raise InvalidField("url", problem)
    if len(set(new.events)) != len(new.events):
        raise InvalidField("events", "must not name an event twice")
    secret = rules.new_secret()
    webhook = Webhook(
        id=repo.new_id("whk"),
        tenant_id=tenant_id,
        url=new.url,
        secret=secret,
        events=list(new.events),
        offline_after_s=new.offline_after_s,
        sync_failures=new.sync_failures,
        created_at=now,
    )
    with db.write() as s:
        if rows.count_webhooks(s, tenant_id) >= MAX_WEBHOOKS_PER_TENANT:
            raise Conflict(
                f"a tenant has at most {MAX_WEBHOOKS_PER_TENANT} webhooks: delete one first",
                "too_many_webhooks",
            )
        s.add(webhook)
    return Created(webhook, secret)


def list_webhooks(db: Database, tenant_id: str, limit: int, after: str | None) -> Page[Webhook]:
    with db.read() as s:
        items, next_cursor = rows.page_webhooks(s, tenant_id, limit, after)
    return Page(items, next_cursor)


def get_webhook(db: Database, tenant_id: str, webhook_id: str) -> Webhook:
    with db.read() as s:
        return rows.get_webhook(s, tenant_id, webhook_id)


def delete_webhook(db: Database, tenant_id: str, webhook_id: str) -> None:
    with db.write() as s:
        rows.delete_webhook(s, tenant_id, webhook_id)


def list_deliveries(
    db: Database, tenant_id: str, webhook_id: str, limit: int, after: str | None
) -> Page[WebhookDelivery]:
    """The webhook's delivery log, newest first."""
    with db.read() as s:
        rows.get_webhook(s, tenant_id, webhook_id)
        items, next_cursor = rows.page_deliveries(s, webhook_id, limit, after)
    return Page(items, next_cursor)


# ---------------------------------------------------------------- the sender's side


@dataclass(frozen=True)
class Claimed:
    delivery: WebhookDelivery
    url: str
    secret: str


def claim_due(
    db: Database, *, owner: str, now: datetime, lease_s: float, limit: int
) -> list[Claimed]:
    """Lease due deliveries to ``owner`` with their webhooks' URL and secret."""
    with db.write() as s:
        claimed = rows.claim_due(
            s, now=now, owner=owner, lease_until=now + timedelta(seconds=lease_s), limit=limit
        )
        webhooks = rows.webhooks_by_id(s, {d.webhook_id for d in claimed})
    return [
        Claimed(d, webhooks[d.webhook_id].url, webhooks[d.webhook_id].secret)
        for d in claimed
        if d.webhook_id in webhooks
    ]


def record_attempt(
    db: Database,
    delivery: WebhookDelivery,
    *,
    owner: str,
    status: int | None,
    error: str | None,
    now: datetime,
    jitter: float | None = None,
) -> str:
    """Write one attempt's outcome: "delivered", "retry" or "failed" (what the metric counts).

    "lost" when the lease ran out and another sender owns the row now.
    """
    attempts = delivery.attempts + 1
    if status is not None and 200 <= status < 300:
        outcome = "delivered"
        values: dict[str, object] = {
            "state": "delivered",
            "delivered_at": now,
            "next_attempt_at": None,
        }
    else:
        spread = random.uniform(-1.0, 1.0) if jitter is None else jitter
        retry_at = rules.next_attempt_at(attempts, delivery.created_at, now, spread)
        outcome = "retry" if retry_at is not None else "failed"
        values = {"state": "pending" if retry_at is not None else "failed"}
        values["next_attempt_at"] = retry_at
    values.update(
        attempts=attempts,
        last_status=status,
        last_error=None if error is None else error[:MAX_ERROR_CHARS],
    )
    with db.write() as s:
        if not rows.finish(s, delivery.id, owner, **values):
            return "lost"
    return outcome
