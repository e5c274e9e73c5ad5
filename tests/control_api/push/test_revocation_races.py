"""A revoked device token never keeps or gets a broker account (issue 13).

The use cases on a real database (SQLite, and PostgreSQL when configured), a
fake broker that keeps the accounts it is left with and can run a revocation
between an issue's steps, and the revocation thread's sweep run by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from control_api.broker_revocations import BrokerRevocations
from control_api.errors import PushUnavailable, RateLimited, Unauthenticated
from control_api.services import devices, enrollment, push_credentials
from control_api.services.push_credentials import Requester
from control_api.store import broker_deletions
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.fakes.broker_accounts import FakeBrokerAccounts, Point

pytestmark = pytest.mark.timeout(60)
DEVICE_URL = "mqtts://broker.example:8883"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class _Limiter:
    """Never locks out: these tests enroll with valid codes only."""

    def failed(self, s: Any, address: str, now: datetime) -> RateLimited | None:
        return None

    def succeeded(self, s: Any, address: str, now: datetime) -> None:
        pass


@dataclass
class Fleet:
    """One tenant on a real database, the fake broker, and a revocation sweeper."""

    db: Database
    broker: FakeBrokerAccounts
    tenant_id: str
    woken: list[str] = field(default_factory=list)
    at: datetime = START

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at

    @property
    def sweeper(self) -> BrokerRevocations:
        return BrokerRevocations(self.db, self.broker)  # a thread never started: swept by hand

    def revocation(self, after_commit: Callable[[str], None] | None = None) -> Any:
        return devices.TokenRevocation(
            broker_account=True, after_commit=after_commit or self.woken.append
        )

    def register(self) -> str:
        box = devices.register_device(
            self.db, self.tenant_id, "box", "Europe/Paris", [], now=self.now(), code_ttl_s=3600
        )
        return self.enroll(box.enrollment_code)

    def enroll(self, code: str) -> str:
        """The device token for a code."""
        enrolled = enrollment.enroll(self.db, _Limiter(), code, None, "10.0.0.1", now=self.now())
        return enrolled.device_token

    def requester(self, device_token: str) -> Requester:
        with self.db.read() as s:
            principal = repo.lookup_token(s, repo.hash_secret(device_token))
        assert principal is not None and principal.device_id is not None
        return Requester(principal.tenant_id, principal.device_id, principal.token_hash)

    def issue(self, requester: Requester) -> push_credentials.IssuedCredentials:
        return push_credentials.issue(
            self.db,
            self.broker,
            DEVICE_URL,
            requester,
            now=self.now,
            wake_revocations=lambda: self.woken.append("wake"),
        )

    def new_code(self, device_id: str, after_commit: Callable[[str], None] | None = None) -> str:
        return devices.new_enrollment_code(
            self.db,
            self.tenant_id,
            device_id,
            now=self.now(),
            code_ttl_s=3600,
            revocation=self.revocation(after_commit),
        )

    def decommission(
        self, device_id: str, after_commit: Callable[[str], None] | None = None
    ) -> None:
        devices.decommission_device(
            self.db, self.tenant_id, device_id, self.revocation(after_commit), now=self.now()
        )

    def token_valid(self, device_token: str) -> bool:
        with self.db.read() as s:
            return repo.lookup_token(s, repo.hash_secret(device_token)) is not None

    def pending(self) -> list[str]:
        with self.db.read() as s:
            return [device_id for device_id, _ in broker_deletions.pending(s, 100)]


@pytest.fixture
def fleet(database_url: str) -> Iterator[Fleet]:
    db = Database(database_url)
    db.upgrade()
    with db.write() as s:
        tenant_id, _ = repo.create_tenant(s, "shop", START)
    try:
        yield Fleet(db, FakeBrokerAccounts(), tenant_id)
    finally:
        db.dispose()


def _revoke(
    fleet: Fleet, kind: str, device_id: str, after_commit: Callable[[str], None] | None = None
) -> None:
    if kind == "new_code":
        fleet.new_code(device_id, after_commit)
    else:
        fleet.decommission(device_id, after_commit)


# ---------------------------------------------------------------- the normal path


def test_issue_rotate_revoke_and_reenroll_leave_exactly_the_current_account(
    fleet: Fleet,
) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    first = fleet.issue(box)
    assert fleet.broker.clients == {box.device_id: first.password}
    rotated = fleet.issue(box)
    assert rotated.password != first.password
    assert fleet.broker.clients == {box.device_id: rotated.password}

    code = fleet.new_code(box.device_id)
    assert fleet.pending() == [box.device_id]  # recorded with the revocation
    assert fleet.woken == [box.device_id]  # and the thread woken after its commit
    assert fleet.sweeper.sweep() == 0
    assert fleet.broker.clients == {} and fleet.pending() == []

    again = fleet.issue(fleet.requester(fleet.enroll(code)))
    assert fleet.broker.clients == {box.device_id: again.password}
    assert fleet.sweeper.sweep() == 0
    assert fleet.broker.clients == {box.device_id: again.password}


def test_a_stale_deletion_does_not_remove_the_reenrolled_devices_new_account(
    fleet: Fleet,
) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    fleet.issue(box)
    fleet.broker.down = True
    code = fleet.new_code(box.device_id)
    assert fleet.sweeper.sweep() == 1  # the broker is down: the deletion stays
    reenrolled = fleet.requester(fleet.enroll(code))
    fleet.broker.down = False
    issued = fleet.issue(reenrolled)
    assert fleet.pending() == []  # the new account replaced the old one
    assert fleet.sweeper.sweep() == 0
    assert fleet.broker.clients == {box.device_id: issued.password}


def test_an_issue_the_broker_refuses_keeps_the_old_accounts_deletion(fleet: Fleet) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    old = fleet.issue(box)
    fleet.broker.down = True
    code = fleet.new_code(box.device_id)
    reenrolled = fleet.requester(fleet.enroll(code))
    with pytest.raises(PushUnavailable):
        fleet.issue(reenrolled)
    assert fleet.pending() == [box.device_id]
    assert fleet.broker.clients == {box.device_id: old.password}  # the revoked one's, still
    fleet.broker.down = False
    assert fleet.sweeper.sweep() == 0
    assert fleet.broker.clients == {}


# ---------------------------------------------------------------- atomic revocation


def _fail_deletion_inserts(db: Database) -> None:
    """The revocation's last write (its deletion row) fails as a full disk would."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER fail_deletions BEFORE INSERT ON broker_deletions "
                    "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION fail_deletion() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER fail_deletions BEFORE INSERT ON broker_deletions "
                    "FOR EACH ROW EXECUTE FUNCTION fail_deletion()"
                )
            )


@pytest.mark.parametrize("kind", ["new_code", "decommission"])
def test_a_database_failure_after_the_revocations_writes_rolls_it_all_back(
    fleet: Fleet, kind: str
) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    fleet.issue(box)
    _fail_deletion_inserts(fleet.db)
    with pytest.raises(DBAPIError, match="disk full"):
        _revoke(fleet, kind, box.device_id)
    assert fleet.woken == []
    assert fleet.token_valid(token)  # not revoked: the device still holds what it was told
    assert fleet.pending() == []
    assert fleet.issue(box).username == box.device_id  # and its account still works


@pytest.mark.parametrize("kind", ["new_code", "decommission"])
def test_a_committed_revocation_has_its_deletion_even_if_the_process_dies_at_once(
    fleet: Fleet, kind: str
) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    fleet.issue(box)

    def killed(device_id: str) -> None:
        raise SystemExit("killed right after the commit")

    with pytest.raises(SystemExit):
        _revoke(fleet, kind, box.device_id, killed)
    assert not fleet.token_valid(token)
    assert fleet.pending() == [box.device_id]
    assert fleet.sweeper.sweep() == 0  # the next process's first sweep
    assert fleet.broker.clients == {}


def test_a_server_that_manages_no_accounts_records_no_deletion(fleet: Fleet) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    unmanaged = devices.TokenRevocation(broker_account=False, after_commit=fleet.woken.append)
    devices.decommission_device(fleet.db, fleet.tenant_id, box.device_id, unmanaged, now=START)
    assert fleet.woken == [box.device_id]
    assert not fleet.token_valid(token)
    assert fleet.pending() == []


# ---------------------------------------------------------------- issue vs revoke


@pytest.mark.parametrize("kind", ["new_code", "decommission"])
@pytest.mark.parametrize("served_at_once", [True, False], ids=["swept-at-once", "not-swept"])
@pytest.mark.parametrize("point", ["before_lock", "before", "during", "after"])
def test_a_revocation_at_any_point_of_an_issue_leaves_no_account(
    fleet: Fleet, kind: str, served_at_once: bool, point: str
) -> None:
    """``before_lock``: revoked after the request's token check (a cached token)
    and before the issue's transaction; ``before``: after that transaction
    committed, before the account reaches the broker; ``during``: between the
    broker's steps; ``after``: the account applied, the issue not yet answered.
    ``served_at_once``: the revocation thread serves the deletion right away."""
    token = fleet.register()
    box = fleet.requester(token)  # what the request's token check found
    sweeper = fleet.sweeper

    def revoke() -> None:
        _revoke(fleet, kind, box.device_id)
        if served_at_once:
            assert sweeper.sweep() == 0

    if point == "before_lock":
        revoke()
        asked = len(fleet.broker.requests)
    else:
        fleet.broker.interleave(_point(point), revoke)
    with pytest.raises(Unauthenticated) as refused:
        fleet.issue(box)
    assert refused.value.code == "invalid_token"
    assert not fleet.token_valid(token)
    with pytest.raises(Unauthenticated):
        fleet.issue(box)  # and stays refused
    if point == "before_lock":
        assert len(fleet.broker.requests) == asked  # a revoked token never reaches the broker
    sweeper.sweep()
    assert box.device_id not in fleet.broker.clients
    assert fleet.pending() == []


@pytest.mark.parametrize("point", ["before", "during", "after"])
def test_a_revocation_during_an_issue_then_reenrolling_ends_with_only_the_new_account(
    fleet: Fleet, point: str
) -> None:
    token = fleet.register()
    box = fleet.requester(token)
    codes: list[str] = []
    fleet.broker.interleave(_point(point), lambda: codes.append(fleet.new_code(box.device_id)))
    with pytest.raises(Unauthenticated):
        fleet.issue(box)
    issued = fleet.issue(fleet.requester(fleet.enroll(codes[0])))
    assert fleet.sweeper.sweep() == 0
    assert fleet.broker.clients == {box.device_id: issued.password}
    assert fleet.pending() == []


def test_a_repeated_deletion_request_is_never_taken_for_one_served_before_it(
    fleet: Fleet,
) -> None:
    """A sweep (or an issue) drops the request it read; one recorded since stays,
    even from a process whose clock is behind."""
    with fleet.db.write() as s:
        broker_deletions.record(s, "dev_x", START)
    with fleet.db.read() as s:
        read_at = broker_deletions.requested_at(s, "dev_x")
    assert read_at == START
    with fleet.db.write() as s:
        broker_deletions.record(s, "dev_x", START - timedelta(minutes=5))
    with fleet.db.write() as s:
        broker_deletions.served(s, "dev_x", read_at)
    assert fleet.pending() == ["dev_x"]


def _point(name: str) -> Point:
    assert name in ("before", "during", "after")
    return name  # type: ignore[return-value]
