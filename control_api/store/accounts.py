"""Director accounts, panel sessions and sign-in failure counts (queries; callers pass ``now``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_api.core.login_throttle import Failures
from control_api.store.models import DirectorUser, LoginFailures, PanelSession, Tenant


@dataclass(frozen=True)
class SessionRow:
    """A session with what the panel needs of its user."""

    session_id: str
    csrf_token: str
    last_seen_at: datetime
    expires_at: datetime
    user: DirectorUser


def users_by_email(s: Session, email: str, tenant_id: str | None = None) -> Sequence[DirectorUser]:
    """Accounts with this (normalised) email, oldest first; one tenant's when given."""
    query = select(DirectorUser).where(DirectorUser.email == email)
    if tenant_id is not None:
        query = query.where(DirectorUser.tenant_id == tenant_id)
    return s.scalars(query.order_by(DirectorUser.created_at, DirectorUser.id)).all()


def users_of_tenant(s: Session, tenant_id: str) -> Sequence[DirectorUser]:
    return s.scalars(
        select(DirectorUser).where(DirectorUser.tenant_id == tenant_id).order_by(DirectorUser.email)
    ).all()


def tenant_exists(s: Session, tenant_id: str) -> bool:
    return s.get(Tenant, tenant_id) is not None


def lock_tenant(s: Session, tenant_id: str) -> bool:
    """Row-lock the tenant until commit (False: none), so that changes to who may
    administer it (disabling one of two admins each, at once) go one after the other."""
    found = s.scalars(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update()).first()
    return found is not None


def enabled_admins(s: Session, tenant_id: str) -> int:
    count = s.scalar(
        select(func.count())
        .select_from(DirectorUser)
        .where(
            DirectorUser.tenant_id == tenant_id,
            DirectorUser.role == "admin",
            DirectorUser.disabled.is_(False),
        )
    )
    return int(count or 0)


def add_session(s: Session, row: PanelSession) -> None:
    s.add(row)


def load_session(s: Session, session_id: str) -> SessionRow | None:
    found = s.execute(
        select(PanelSession, DirectorUser)
        .join(DirectorUser, DirectorUser.id == PanelSession.user_id)
        .where(PanelSession.id == session_id)
    ).first()
    if found is None:
        return None
    session, user = found
    return SessionRow(
        session.id, session.csrf_token, session.last_seen_at, session.expires_at, user
    )


def touch_session(s: Session, session_id: str, now: datetime) -> None:
    s.execute(
        update(PanelSession)
        .where(PanelSession.id == session_id)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def delete_session(s: Session, session_id: str) -> None:
    s.execute(
        delete(PanelSession)
        .where(PanelSession.id == session_id)
        .execution_options(synchronize_session=False)
    )


def delete_user_sessions(s: Session, user_id: str) -> int:
    done = s.execute(
        delete(PanelSession)
        .where(PanelSession.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


def prune_sessions(s: Session, idle_before: datetime, now: datetime) -> None:
    """Drop sessions past their absolute end or idle since before ``idle_before``."""
    s.execute(
        delete(PanelSession)
        .where((PanelSession.expires_at <= now) | (PanelSession.last_seen_at < idle_before))
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- sign-in failures


def account_key(email: str) -> str:
    return hashlib.sha256(f"account\0{email}".encode()).hexdigest()


def pair_key(email: str, address: str) -> str:
    return hashlib.sha256(f"pair\0{email}\0{address}".encode()).hexdigest()


def lock_failures(s: Session, key: str, now: datetime) -> Failures | None:
    """The record row-locked until commit (workers count in turn); inserts an empty
    one first, so that two workers' first failures do not both insert."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    s.execute(
        insert(LoginFailures)
        .values(key=key, failures=0, last_failed_at=now)
        .on_conflict_do_nothing()
    )
    row = s.scalars(
        select(LoginFailures)
        .where(LoginFailures.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None or row.failures == 0:
        return None
    return Failures(row.failures, row.last_failed_at)


def save_failures(s: Session, key: str, state: Failures) -> None:
    s.execute(
        update(LoginFailures)
        .where(LoginFailures.key == key)
        .values(failures=state.count, last_failed_at=state.last_failed_at)
        .execution_options(synchronize_session=False)
    )


def clear_failures(s: Session, keys: Sequence[str]) -> None:
    s.execute(
        delete(LoginFailures)
        .where(LoginFailures.key.in_(keys))
        .execution_options(synchronize_session=False)
    )


def prune_failures(s: Session, failed_before: datetime) -> None:
    s.execute(
        delete(LoginFailures)
        .where(LoginFailures.last_failed_at < failed_before)
        .execution_options(synchronize_session=False)
    )
