"""Issuing a device its own broker account (issue 13; ``control_api.core.broker_accounts``).

Synchronous: the device asks, the broker's plugin answers within
``ANSWER_TIMEOUT_S``, the device gets the URL, user name and a new password
(asking again rotates it). The password is stored nowhere but on the broker
(hashed there) and on the device. A broker that is down or unmanaged answers
PushUnavailable; the device keeps polling and asks again later.

A revoked token never keeps or gets an account. The request's token was
checked before (perhaps from a process's token cache, seconds old), and a
revocation (``services.devices.TokenRevocation``) may commit at any moment, its
deletion served by the revocation thread before this issue's account reaches
the broker. So the rule is: **the password is handed out only if the presented
token is the device's current one both before the account is written and after
the broker confirmed it.**

1. In a write transaction, the device row locked: the token must be current,
   else 401 ``invalid_token`` (what a revoked token gets everywhere) and the
   broker is not touched.
2. The broker applies the account (delete, role, create with the new password).
3. In a write transaction, the row locked: the token is checked again.
   Still current: the password is returned, and a deletion that was pending
   at step 1 (an earlier token's account; the device re-enrolled since) is
   dropped, since step 2 replaced that account's password. Revoked meanwhile:
   a deletion is recorded again (the revocation thread is woken) and the answer
   is 401, the password never disclosed.

Every interleaving ends with no account for a revoked token: a revocation
committed before step 1 is refused there; one committed before step 3's check
is seen by it, and the deletion recorded there is served after step 2's
create; one committed after it recorded its own deletion, served after its
commit, so after step 2 as well. When step 2 fails (PushUnavailable) there is
no step 3: whatever password the broker may have stored was given to no one,
and a pending deletion stays pending. The old deletion is dropped at step 3,
not step 1, so that a crash or a broker failure before step 2 replaced the
old account leaves its deletion pending.

One cost remains, never a hole: a sweep that read a pending deletion before
step 3 dropped it may delete the fresh account after step 2 created it; the
broker then refuses the device's password and the device asks again
(``player.runtime.issued_push``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from control_api.broker_accounts import BrokerAccounts
from control_api.core.broker_accounts import issue_steps
from control_api.errors import PushUnavailable, Unauthenticated
from control_api.store import broker_deletions
from control_api.store import devices as device_rows
from control_api.store.db import Database

PASSWORD_BYTES = 32


@dataclass(frozen=True)
class IssuedCredentials:
    url: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Requester:
    """The device that asks, and the hash of the token it presented."""

    tenant_id: str
    device_id: str
    token_hash: str


def issue(
    db: Database,
    accounts: BrokerAccounts,
    device_url: str | None,
    requester: Requester,
    *,
    now: Callable[[], datetime],
    wake_revocations: Callable[[], None],
) -> IssuedCredentials:
    """Create or rotate the device's broker account (the rule: module docstring).

    PushUnavailable when it cannot be; Unauthenticated ``invalid_token`` when the
    token is (or became, meanwhile) revoked. ``wake_revocations`` wakes the thread
    that deletes recorded accounts (``BrokerRevocations.wake``).
    """
    if device_url is None:
        raise PushUnavailable("this server has no MQTT broker (LOMUZ_MQTT_URL is unset)")
    device_id = requester.device_id
    with db.write() as s:
        if not _holds_current_token(s, requester):
            raise _revoked()
        pending_at = broker_deletions.requested_at(s, device_id)
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    accounts.apply(issue_steps(device_id, password))
    with db.write() as s:
        current = _holds_current_token(s, requester)
        if not current:
            broker_deletions.record(s, device_id, now())
        elif pending_at is not None:
            broker_deletions.served(s, device_id, pending_at)
    if not current:
        wake_revocations()
        raise _revoked()
    return IssuedCredentials(url=device_url, username=device_id, password=password)


def _holds_current_token(s: Session, requester: Requester) -> bool:
    """Whether the presented token is still the device's (its row locked until commit)."""
    current = device_rows.lock_token_hash(s, requester.tenant_id, requester.device_id)
    return current is not None and hmac.compare_digest(current, requester.token_hash)


def _revoked() -> Unauthenticated:
    return Unauthenticated("invalid or revoked token", "invalid_token")
