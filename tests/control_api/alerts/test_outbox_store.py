"""The store's guarantees for several workers (SQLite and PostgreSQL): an alert
opens and closes once however many writers try, a leased delivery is claimed by
one sender until its lease runs out, a stale sender cannot overwrite the outcome,
and the log is pruned of old finished rows only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from control_api.store import repository as repo
from control_api.store import webhooks as rows
from control_api.store.db import Database
from control_api.store.models import WebhookDelivery

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


def add_delivery(db: Database, *, created_at: datetime = T0, state: str = "pending") -> str:
    delivery_id = repo.new_id("dlv")
    with db.write() as s:
        s.add(
            WebhookDelivery(
                id=delivery_id,
                event_id=repo.new_id("evt"),
                tenant_id="ten_1",
                webhook_id="whk_1",
                device_id="dev_1",
                event_type="device.offline",
                body="{}",
                state=state,
                attempts=0,
                next_attempt_at=created_at,
                created_at=created_at,
            )
        )
    return delivery_id


def test_an_alert_opens_once_and_closes_once(db: Database) -> None:
    key = {"webhook_id": "whk_1", "device_id": "dev_1", "kind": "offline"}
    with db.write() as s:
        assert rows.open_alert(s, tenant_id="ten_1", now=T0, **key)
    with db.write() as s:  # another worker, on the state it read before
        assert not rows.open_alert(s, tenant_id="ten_1", now=T0, **key)
    with db.write() as s:
        assert rows.close_alert(s, **key)
    with db.write() as s:
        assert not rows.close_alert(s, **key)


def test_a_lease_keeps_a_delivery_to_one_sender_until_it_runs_out(db: Database) -> None:
    delivery_id = add_delivery(db)
    lease = T0 + timedelta(minutes=2)
    with db.write() as s:
        [claimed] = rows.claim_due(s, now=T0, owner="a", lease_until=lease, limit=10)
    assert claimed.id == delivery_id
    with db.write() as s:
        assert (
            rows.claim_due(s, now=T0 + timedelta(minutes=1), owner="b", lease_until=lease, limit=10)
            == []
        )
    later = T0 + timedelta(minutes=3)
    with db.write() as s:
        [taken] = rows.claim_due(
            s, now=later, owner="b", lease_until=later + timedelta(minutes=2), limit=10
        )
    assert taken.id == delivery_id
    with db.write() as s:  # the first sender's outcome comes too late: not written
        assert not rows.finish(s, delivery_id, "a", state="delivered", attempts=1)
    with db.write() as s:
        assert rows.finish(s, delivery_id, "b", state="delivered", attempts=1)


def test_not_yet_due_and_finished_deliveries_are_not_claimed(db: Database) -> None:
    add_delivery(db, created_at=T0 + timedelta(seconds=30))
    add_delivery(db, state="delivered")
    add_delivery(db, state="failed")
    with db.write() as s:
        assert (
            rows.claim_due(s, now=T0, owner="a", lease_until=T0 + timedelta(minutes=2), limit=10)
            == []
        )


def test_pruning_deletes_old_finished_deliveries_only(db: Database) -> None:
    old = T0 - timedelta(days=31)
    old_pending = add_delivery(db, created_at=old)
    add_delivery(db, created_at=old, state="delivered")
    add_delivery(db, created_at=old, state="failed")
    recent = add_delivery(db, state="delivered")
    with db.write() as s:
        assert rows.prune_deliveries(s, T0 - timedelta(days=30)) == 2
    with db.read() as s:
        left, _ = rows.page_deliveries(s, "whk_1", 10, None)
    assert {d.id for d in left} == {old_pending, recent}
