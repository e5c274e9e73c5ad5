"""Director accounts: add, reset a password, disable and enable, list; sign in, the
session behind a cookie, sign out.

A session's cookie carries a 256-bit token; the database keeps its sha256 only.
Sessions live in the database, so any API process serves any request; a
session ends ``idle_s`` after its last request (written at most every
``touch_s``, so a page's burst of requests costs one write) or ``max_s`` after
sign-in. A password reset ends every session of the account, and so does
disabling it (a disabled account's session also ends at its next request). A
disabled account signs in nowhere; it is told so only once its password is
right, so the answer tells a guesser nothing.

Sign-in failures are throttled per account and per (account, client address),
never per address alone (``control_api.core.login_throttle``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy.exc import IntegrityError

from control_api.core import accounts as rules
from control_api.core import login_throttle as throttle
from control_api.errors import (
    AccountDisabled,
    BadCredentials,
    Conflict,
    InvalidField,
    NotFound,
    RateLimited,
)
from control_api.panel.director import Director, Role
from control_api.passwords import Passwords
from control_api.store import accounts as rows
from control_api.store.db import Database
from control_api.store.models import DirectorUser, PanelSession
from control_api.store.repository import new_id

log = logging.getLogger(__name__)
MAX_TOKEN_CHARS = 100  # the cookie's token is 43; anything longer is not one of ours


@dataclass(frozen=True)
class SessionLimits:
    idle_s: int
    max_s: int
    touch_s: int = 60  # last_seen_at is written at most this often


@dataclass(frozen=True)
class UserSummary:
    id: str
    tenant_id: str
    email: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SignedIn:
    token: str  # the cookie's value; never stored
    director: Director
    expires_at: datetime


def _summary(user: DirectorUser) -> UserSummary:
    return UserSummary(
        user.id,
        user.tenant_id,
        user.email,
        cast(Role, user.role),
        user.disabled,
        user.created_at,
        user.updated_at,
    )


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    db: Database,
    passwords: Passwords,
    *,
    tenant_id: str,
    email: str,
    role: str,
    password: str,
    now: datetime,
) -> UserSummary:
    """A new account; InvalidField, NotFound (tenant) or Conflict (email taken)."""
    email = rules.check_email(email)
    rules.check_role(role)
    rules.check_new_password(password, email)
    with db.read() as s:
        if not rows.tenant_exists(s, tenant_id):
            raise NotFound(f"no tenant {tenant_id}")
    password_hash = passwords.hash(password)  # outside a transaction: it takes a while
    user = DirectorUser(
        id=new_id("usr"),
        tenant_id=tenant_id,
        email=email,
        password_hash=password_hash,
        role=role,
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    taken = Conflict(f"tenant {tenant_id} already has a director user {email}", "email_taken")
    try:
        with db.write() as s:
            if rows.users_by_email(s, email, tenant_id):
                raise taken
            s.add(user)
    except IntegrityError:  # another process added it between the check and the insert
        raise taken from None
    return _summary(user)


def reset_password(
    db: Database,
    passwords: Passwords,
    email: str,
    password: str,
    *,
    tenant_id: str | None = None,
    now: datetime,
) -> tuple[UserSummary, int]:
    """Set a new password and end the account's sessions; returns (account, sessions ended).

    ``tenant_id`` is needed only when the email has accounts in several tenants.
    """
    email = rules.normalise_email(email)
    found = _one_user(db, email, tenant_id)
    rules.check_new_password(password, email)
    password_hash = passwords.hash(password)
    with db.write() as s:
        user = s.get(DirectorUser, found.id, with_for_update=True)
        if user is None:
            raise NotFound(f"no director user {email}")
        user.password_hash = password_hash
        user.updated_at = now
        ended = rows.delete_user_sessions(s, user.id)
        rows.clear_failures(s, [rows.account_key(email)])
        return _summary(user), ended


def _one_user(db: Database, email: str, tenant_id: str | None) -> DirectorUser:
    """The account of a normalised ``email`` (in ``tenant_id`` when given); NotFound,
    or InvalidField ``tenant`` when the email has accounts in several tenants."""
    with db.read() as s:
        found = rows.users_by_email(s, email, tenant_id)
    if not found:
        where = f" in tenant {tenant_id}" if tenant_id is not None else ""
        raise NotFound(f"no director user {email}{where}")
    if len(found) > 1:
        tenants = ", ".join(u.tenant_id for u in found)
        raise InvalidField("tenant", f"{email} has accounts in tenants {tenants}: name one")
    return found[0]


def set_disabled(
    db: Database,
    email: str,
    disabled: bool,
    *,
    tenant_id: str | None = None,
    acting_user_id: str | None = None,
    now: datetime,
) -> tuple[UserSummary, int]:
    """Disable (its sessions end at once) or enable an account; returns (account,
    sessions ended). Conflict when disabling the acting director's own account
    (``acting_user_id``) or the tenant's last enabled admin
    (``core.accounts.check_may_disable``). ``tenant_id`` as for :func:`reset_password`."""
    email = rules.normalise_email(email)
    found = _one_user(db, email, tenant_id)
    with db.write() as s:
        # Two admins disabling each other at once: the second waits, then counts one.
        rows.lock_tenant(s, found.tenant_id)
        user = s.get(DirectorUser, found.id, with_for_update=True)
        if user is None:
            raise NotFound(f"no director user {email}")
        if disabled and not user.disabled:
            rules.check_may_disable(
                email=user.email,
                role=user.role,
                is_self=user.id == acting_user_id,
                enabled_admins=rows.enabled_admins(s, user.tenant_id),
                tenant_id=user.tenant_id,
            )
        if user.disabled != disabled:
            user.disabled = disabled
            user.updated_at = now
        ended = rows.delete_user_sessions(s, user.id) if disabled else 0
        return _summary(user), ended


def list_users(db: Database, tenant_id: str) -> list[UserSummary]:
    with db.read() as s:
        if not rows.tenant_exists(s, tenant_id):
            raise NotFound(f"no tenant {tenant_id}")
        return [_summary(u) for u in rows.users_of_tenant(s, tenant_id)]


def sign_in(
    db: Database,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    address: str,
    limits: SessionLimits,
    now: datetime,
) -> SignedIn:
    """A new session; BadCredentials (the same whether or not the email exists),
    AccountDisabled (only once the password is right), or RateLimited while this
    account is throttled (from this address or overall)."""
    email = rules.normalise_email(email)
    if len(email) > rules.MAX_EMAIL_CHARS or not email.isprintable():
        raise BadCredentials()
    if len(password.encode("utf-8", "surrogatepass")) > rules.MAX_PASSWORD_BYTES:
        raise BadCredentials()
    keys = (rows.pair_key(email, address), rows.account_key(email))
    wait_s = _count_attempt(db, keys, now, f"{email} from {address}")
    if wait_s is not None:
        raise RateLimited(f"too many failed sign-ins for this account: wait {wait_s} s", wait_s)
    with db.read() as s:
        found = rows.users_by_email(s, email)
    # Enabled accounts first: an email in several tenants signs in where it still may.
    candidates = sorted(found, key=lambda u: u.disabled)
    user = _matching(passwords, candidates, password)
    if user is None:
        raise BadCredentials()  # the attempt is counted already
    if user.disabled:
        raise AccountDisabled()  # the password was right: this tells nothing to a guesser
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=limits.max_s)
    rehashed = passwords.hash(password) if passwords.needs_rehash(user.password_hash) else None
    with db.write() as s:
        rows.clear_failures(s, keys)
        rows.prune_sessions(s, now - timedelta(seconds=limits.idle_s), now)
        if rehashed is not None:
            stored = s.get(DirectorUser, user.id)
            if stored is not None:
                stored.password_hash = rehashed
        rows.add_session(
            s,
            PanelSession(
                id=_session_id(token),
                user_id=user.id,
                csrf_token=csrf_token,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
            ),
        )
    director = Director(user.id, user.tenant_id, user.email, cast(Role, user.role), csrf_token)
    return SignedIn(token, director, expires_at)


def _count_attempt(db: Database, keys: tuple[str, str], now: datetime, who: str) -> int | None:
    """Seconds to wait while the account is throttled (nothing counted), else None
    after counting this attempt as a failure up front, in one transaction with the
    check: parallel guesses cannot all pass it. A good password clears the count."""
    with db.write() as s:
        pair = rows.lock_failures(s, keys[0], now)
        account = rows.lock_failures(s, keys[1], now)
        waits = [
            throttle.retry_after_s(pair, now, throttle.PAIR),
            throttle.retry_after_s(account, now, throttle.ACCOUNT),
        ]
        wait_s = max((w for w in waits if w is not None), default=None)
        if wait_s is not None:
            return wait_s
        if pair is None:  # a new record: the moment to drop those that are over
            rows.prune_failures(s, throttle.forgotten_before(now))
        pair = throttle.after_failure(pair, now, throttle.PAIR)
        account = throttle.after_failure(account, now, throttle.ACCOUNT)
        rows.save_failures(s, keys[0], pair)
        rows.save_failures(s, keys[1], account)
    # Logged once, when the delays start (the attempt counted now is the first past them).
    if pair.count == throttle.PAIR.free_failures + 1:
        log.warning("sign-in attempts for %r are slowed down after failures", who)
    if account.count == throttle.ACCOUNT.free_failures + 1:
        log.warning("sign-in attempts for %r: the account is slowed down everywhere", who)
    return None


def _matching(
    passwords: Passwords, candidates: list[DirectorUser], password: str
) -> DirectorUser | None:
    """The first account (oldest) the password opens; an email in several tenants
    signs in to the one whose password it is."""
    if not candidates:
        passwords.verify_dummy(password)
        return None
    for user in candidates:
        if passwords.verify(user.password_hash, password):
            return user
    return None


def session_director(
    db: Database, token: str | None, limits: SessionLimits, *, now: datetime
) -> Director | None:
    """The signed-in director of a cookie's token, or None (unknown, ended, idle,
    past its lifetime, or its account disabled); slides the idle expiry."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    session_id = _session_id(token)
    with db.read() as s:
        found = rows.load_session(s, session_id)
    if found is None:
        return None
    idle_for_s = (now - found.last_seen_at).total_seconds()
    if found.user.disabled or now >= found.expires_at or idle_for_s >= limits.idle_s:
        with db.write() as s:
            rows.delete_session(s, session_id)
        return None
    if idle_for_s >= limits.touch_s:
        with db.write() as s:
            rows.touch_session(s, session_id, now)
    user = found.user
    return Director(user.id, user.tenant_id, user.email, cast(Role, user.role), found.csrf_token)


def sign_out(db: Database, token: str | None) -> None:
    if not token or len(token) > MAX_TOKEN_CHARS:
        return
    with db.write() as s:
        rows.delete_session(s, _session_id(token))
