"""Disabling and enabling director accounts (``services.accounts.set_disabled``) on a
real database: sessions end, sign-in refuses only after the password, a tenant keeps
an enabled admin."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from control_api.errors import AccountDisabled, BadCredentials, Conflict, NotFound
from control_api.services import accounts
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.panel.conftest import CHEAP_PASSWORDS, PASSWORD

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LIMITS = accounts.SessionLimits(idle_s=3600, max_s=86400)


def _tenant(db: Database, name: str = "shop") -> str:
    with db.write() as s:
        return repo.create_tenant(s, name, NOW)[0]


def _user(db: Database, tenant_id: str, email: str, role: str) -> accounts.UserSummary:
    return accounts.add_user(
        db, CHEAP_PASSWORDS, tenant_id=tenant_id, email=email, role=role,
        password=PASSWORD, now=NOW,
    )  # fmt: skip


def _sign_in(db: Database, email: str, password: str = PASSWORD) -> accounts.SignedIn:
    return accounts.sign_in(
        db, CHEAP_PASSWORDS, email=email, password=password, address="192.0.2.1",
        limits=LIMITS, now=NOW,
    )  # fmt: skip


def test_disabling_ends_the_sessions_and_enabling_lets_it_sign_in_again(db: Database) -> None:
    tenant = _tenant(db)
    admin = _user(db, tenant, "boss@shop.example", "admin")
    _user(db, tenant, "ed@shop.example", "editor")
    first, second = _sign_in(db, "ed@shop.example"), _sign_in(db, "ed@shop.example")
    user, ended = accounts.set_disabled(
        db, "ED@shop.example", True, tenant_id=tenant, acting_user_id=admin.id, now=NOW
    )
    assert (user.disabled, ended) == (True, 2)
    for signed in (first, second):
        assert accounts.session_director(db, signed.token, LIMITS, now=NOW) is None
    with pytest.raises(BadCredentials):  # a wrong password reads as ever
        _sign_in(db, "ed@shop.example", "not the password")
    with pytest.raises(AccountDisabled):  # told only with the right one
        _sign_in(db, "ed@shop.example")
    assert [u.disabled for u in accounts.list_users(db, tenant) if u.role == "editor"] == [True]
    again, ended = accounts.set_disabled(db, "ed@shop.example", False, tenant_id=tenant, now=NOW)
    assert (again.disabled, ended) == (False, 0)
    assert accounts.session_director(db, _sign_in(db, "ed@shop.example").token, LIMITS, now=NOW)


def test_nobody_disables_their_own_account_or_the_last_enabled_admin(db: Database) -> None:
    tenant = _tenant(db)
    boss = _user(db, tenant, "boss@shop.example", "admin")
    second = _user(db, tenant, "two@shop.example", "admin")
    with pytest.raises(Conflict) as own:
        accounts.set_disabled(
            db, boss.email, True, tenant_id=tenant, acting_user_id=boss.id, now=NOW
        )
    assert own.value.code == "own_account"
    accounts.set_disabled(db, second.email, True, tenant_id=tenant, acting_user_id=boss.id, now=NOW)
    with pytest.raises(Conflict) as last:  # the operator's CLI has no acting user
        accounts.set_disabled(db, boss.email, True, tenant_id=tenant, now=NOW)
    assert last.value.code == "last_admin" and "last enabled admin" in last.value.message
    states = {u.email: u.disabled for u in accounts.list_users(db, tenant)}
    assert states == {"boss@shop.example": False, "two@shop.example": True}
    # Enabling the second admin again makes the first one disableable.
    accounts.set_disabled(db, second.email, False, tenant_id=tenant, now=NOW)
    accounts.set_disabled(db, boss.email, True, tenant_id=tenant, acting_user_id=second.id, now=NOW)


def test_another_tenants_account_is_not_found(db: Database) -> None:
    tenant, other = _tenant(db), _tenant(db, "other")
    _user(db, other, "far@other.example", "editor")
    with pytest.raises(NotFound):
        accounts.set_disabled(db, "far@other.example", True, tenant_id=tenant, now=NOW)
    assert [u.disabled for u in accounts.list_users(db, other)] == [False]


def test_an_email_in_two_tenants_signs_in_where_it_is_still_enabled(db: Database) -> None:
    tenant, other = _tenant(db), _tenant(db, "other")
    _user(db, tenant, "both@example.com", "editor")
    _user(db, other, "both@example.com", "editor")
    accounts.set_disabled(db, "both@example.com", True, tenant_id=tenant, now=NOW)
    assert _sign_in(db, "both@example.com").director.tenant_id == other


def test_two_admins_disabling_each_other_at_once_leave_one_enabled(db: Database) -> None:
    tenant = _tenant(db)
    one = _user(db, tenant, "one@shop.example", "admin")
    two = _user(db, tenant, "two@shop.example", "admin")
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def disable(target: accounts.UserSummary, actor: accounts.UserSummary) -> None:
        start.wait()
        try:
            accounts.set_disabled(
                db, target.email, True, tenant_id=tenant, acting_user_id=actor.id, now=NOW
            )
            outcomes.append("disabled")
        except Conflict as exc:
            outcomes.append(exc.code)

    workers = [
        threading.Thread(target=disable, args=(two, one)),
        threading.Thread(target=disable, args=(one, two)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sorted(outcomes) == ["disabled", "last_admin"]
    assert sum(not u.disabled for u in accounts.list_users(db, tenant)) == 1
