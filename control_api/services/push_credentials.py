"""Issuing a device its own broker account (issue 13; ``control_api.core.broker_accounts``).

Synchronous: the device asks, the broker's plugin answers within
``ANSWER_TIMEOUT_S``, the device gets the URL, user name and a new password
(asking again rotates it). The password is stored nowhere but on the broker
(hashed there) and on the device. A broker that is down or unmanaged answers
PushUnavailable; the device keeps polling and asks again later.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from control_api.broker_accounts import BrokerAccounts
from control_api.core.broker_accounts import issue_steps
from control_api.errors import PushUnavailable
from control_api.store import broker_deletions
from control_api.store.db import Database

PASSWORD_BYTES = 32


@dataclass(frozen=True)
class IssuedCredentials:
    url: str
    username: str
    password: str = field(repr=False)


def issue(
    db: Database, accounts: BrokerAccounts, device_url: str | None, device_id: str
) -> IssuedCredentials:
    """Create or rotate the device's broker account; PushUnavailable when it cannot be."""
    if device_url is None:
        raise PushUnavailable("this server has no MQTT broker (LOMUZ_MQTT_URL is unset)")
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    # The account is recreated from scratch: a deletion still pending from an
    # earlier revocation (the device re-enrolled since) must not delete the new one.
    with db.write() as s:
        broker_deletions.served(s, device_id)
    accounts.apply(issue_steps(device_id, password))
    return IssuedCredentials(url=device_url, username=device_id, password=password)
