"""Devices: rows, enrollment codes and tokens, decommission, counts."""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    delete,
    exists,
    func,
    literal_column,
    select,
    true,
    union,
    update,
)
from sqlalchemy.orm import Session

from control_api.core import enrollment_codes
from control_api.core.presence import online_since
from control_api.errors import Conflict, InvalidField, NotFound
from control_api.store.models import Device, Override, Schedule
from control_api.store.repository import (
    decode_after,
    encode_after,
    get_row,
    hash_secret,
    new_token,
    page_by_id,
    revoke_device_token,
)

# ---------------------------------------------------------------- devices


def get_device(s: Session, tenant_id: str, device_id: str, *, for_update: bool = False) -> Device:
    return get_row(s, Device, tenant_id, device_id, for_update=for_update)


DeviceOrder = Literal["id", "name", "last_seen", "state"]
"""id: the API's order. name: by name (binary order), then id. last_seen: the most
recently seen first, never-seen devices last. state: the reverse, what needs a
look first: never seen, then offline the longest, then online."""


def page_devices(
    s: Session,
    tenant_id: str,
    limit: int,
    after: str | None,
    *,
    group: str | None = None,
    online: bool | None = None,
    online_boundary: datetime | None = None,
    ever_seen: bool | None = None,
    name_contains: str | None = None,
    order: DeviceOrder = "id",
) -> tuple[list[Device], str | None]:
    """One page of the tenant's devices, narrowed: in ``group``; ``online`` or not
    (:func:`online_clause` with ``online_boundary``);
    seen at least once or never (``ever_seen``); the name containing
    ``name_contains`` (case-insensitive, LIKE wildcards literal). Keyset pages in
    ``order``, each one range scan of an index (models.Device)."""
    where: list[ColumnElement[bool]] = []
    if group is not None:
        where.append(_in_group(s, group))
    if online is not None:
        if online_boundary is None:
            raise ValueError("filtering on online needs online_boundary")
        where.append(online_clause(online_boundary, online=online))
    if ever_seen is not None:
        where.append(
            Device.last_seen_at.is_not(None) if ever_seen else Device.last_seen_at.is_(None)
        )
    if name_contains:
        where.append(Device.name.icontains(name_contains, autoescape=True))
    if order == "id":
        return page_by_id(s, Device, tenant_id, limit, after, where=where)
    base = select(Device).where(Device.tenant_id == tenant_id, *where)
    if order == "name":
        return _page_by_name(s, base, limit, after)
    return _page_by_last_seen(s, base, limit, after, newest_first=order == "last_seen")


def online_clause(online_boundary: datetime, *, online: bool = True) -> ColumnElement[bool]:
    """``core.presence.is_online`` in SQL (``online=False``: its negation), with
    ``online_boundary`` = ``core.presence.online_since``. Written out both ways: a NOT
    over the NULLs of never-seen devices would drop them from "offline"."""
    state = func.coalesce(Device.presence_state, "")  # never NULL: NOT stays two-valued
    changed, seen_at = Device.presence_changed_at, Device.last_seen_at
    seen = seen_at >= online_boundary
    unseen = seen_at.is_(None) | (seen_at < online_boundary)
    has_will = (state == "offline") & changed.is_not(None)
    if online:
        return (
            ((state == "online") & (seen | (changed >= online_boundary)))
            | (has_will & seen & (seen_at > changed))
            | (~has_will & (state != "online") & seen)
        )
    return (
        ((state == "online") & unseen & (changed.is_(None) | (changed < online_boundary)))
        | (has_will & (unseen | (seen_at <= changed)))
        | (~has_will & (state != "online") & unseen)
    )


def _cursor_parts(after: str, size: int) -> list[Any]:
    try:
        parts = json.loads(decode_after(after))
    except ValueError:
        parts = None
    if not isinstance(parts, list) or len(parts) != size:
        raise InvalidField("after", "not a cursor returned by this API for this order")
    return parts


def _page_by_name(
    s: Session, base: Any, limit: int, after: str | None
) -> tuple[list[Device], str | None]:
    stmt = base
    if after:
        name, device_id = _cursor_parts(after, 2)
        if not isinstance(name, str) or not isinstance(device_id, str):
            raise InvalidField("after", "not a cursor returned by this API for this order")
        stmt = stmt.where((Device.name > name) | ((Device.name == name) & (Device.id > device_id)))
    rows = list(s.scalars(stmt.order_by(Device.name, Device.id).limit(limit + 1)))
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], encode_after(json.dumps([last.name, last.id]))
    return rows, None


def _page_by_last_seen(
    s: Session, base: Any, limit: int, after: str | None, *, newest_first: bool
) -> tuple[list[Device], str | None]:
    """Seen devices by ``last_seen_at`` and never-seen ones by id, as two range
    scans one after the other: NULLs sort differently on SQLite and PostgreSQL,
    so they are never compared."""
    phases = ("seen", "never") if newest_first else ("never", "seen")
    phase, seen_at, after_id = phases[0], None, None
    if after:
        phase, seen_text, after_id = _cursor_parts(after, 3)
        if phase not in phases or not isinstance(after_id, str):
            raise InvalidField("after", "not a cursor returned by this API for this order")
        if phase == "seen":
            try:
                seen_at = datetime.fromisoformat(str(seen_text))
            except ValueError:
                raise InvalidField("after", "not a cursor returned by this API") from None
    rows: list[Device] = []
    for current in phases[phases.index(phase) :]:
        if current == "never":
            stmt = base.where(Device.last_seen_at.is_(None))
            if after_id is not None and current == phase:
                stmt = stmt.where(Device.id > after_id)
            stmt = stmt.order_by(Device.id)
        else:
            stmt = base.where(Device.last_seen_at.is_not(None))
            if seen_at is not None and after_id is not None and current == phase:
                if newest_first:
                    stmt = stmt.where(
                        (Device.last_seen_at < seen_at)
                        | ((Device.last_seen_at == seen_at) & (Device.id < after_id))
                    )
                else:
                    stmt = stmt.where(
                        (Device.last_seen_at > seen_at)
                        | ((Device.last_seen_at == seen_at) & (Device.id > after_id))
                    )
            key = (Device.last_seen_at, Device.id)
            stmt = stmt.order_by(*(k.desc() for k in key) if newest_first else key)
        rows.extend(s.scalars(stmt.limit(limit + 1 - len(rows))))
        if len(rows) > limit:
            break
    if len(rows) > limit:
        last = rows[limit - 1]
        seen = last.last_seen_at
        cursor = ["never", None, last.id] if seen is None else ["seen", seen.isoformat(), last.id]
        return rows[:limit], encode_after(json.dumps(cursor))
    return rows, None


def device_names(s: Session, tenant_id: str, limit: int) -> list[tuple[str, str]]:
    """(id, name) of the first ``limit`` devices of the tenant by name (no telemetry read)."""
    rows = s.execute(
        select(Device.id, Device.name)
        .where(Device.tenant_id == tenant_id)
        .order_by(Device.name, Device.id)
        .limit(limit)
    )
    return [(r.id, r.name) for r in rows]


def group_names(s: Session, tenant_id: str, limit: int) -> list[str]:
    """The first ``limit`` group names of the tenant (in name order): those its
    devices are in and those its schedules target."""
    if s.get_bind().dialect.name == "postgresql":
        members = func.json_array_elements_text(Device.groups).table_valued("value")
    else:
        members = func.json_each(Device.groups).table_valued("value")
    of_devices = (
        select(members.c.value.label("name"))
        .select_from(Device)
        .join(members, true())
        .where(Device.tenant_id == tenant_id)
    )
    of_schedules = select(Schedule.target_value.label("name")).where(
        Schedule.tenant_id == tenant_id, Schedule.target_kind == "group"
    )
    both = union(of_devices, of_schedules).subquery()
    return list(s.scalars(select(both.c.name).order_by(both.c.name).limit(limit)))


def _in_group(s: Session, group: str) -> ColumnElement[bool]:
    """``group`` is one of the device's ``groups`` (a JSON array of names)."""
    return in_any_group(s, [group])


def in_any_group(s: Session, groups: Collection[str]) -> ColumnElement[bool]:
    """One of ``groups`` is one of the device's ``groups`` (a JSON array of names)."""
    if s.get_bind().dialect.name == "postgresql":
        members = func.json_array_elements_text(Device.groups).table_valued("value")
    elif s.get_bind().dialect.name == "sqlite":
        members = func.json_each(Device.groups).table_valued("value")
    else:  # pragma: no cover - the two dialects the API runs on
        return true()
    value = members.c.value
    match = value == next(iter(groups)) if len(groups) == 1 else value.in_(sorted(groups))
    return exists(select(literal_column("1")).select_from(members).where(match))


def issue_enrollment_code(d: Device, now: datetime, ttl_s: int) -> str:
    """A new one-time code for a device that has no token (a new one, or after
    :func:`revoke_device_token`), grouped as shown (``K7QM-3XD9-PB2H-W4TN``).

    Stored hashed in canonical form (no dashes); :func:`enroll` normalises what
    was typed. The alphabet has no "-": a code never starts with one, which
    `lomuz-player enroll --code CODE` would take for an option.
    """
    canonical = enrollment_codes.new_code(secrets.choice)
    code = enrollment_codes.grouped(canonical)
    d.code_hash = hash_secret(canonical)
    d.code_expires_at = now + timedelta(seconds=ttl_s)
    d.token_hash = None
    d.updated_at = now
    return code


def reissue_enrollment_code(s: Session, d: Device, now: datetime, ttl_s: int) -> str:
    """A new one-time code; revokes the device's current token (every process)."""
    revoke_device_token(s, d)
    return issue_enrollment_code(d, now, ttl_s)


def enroll(
    s: Session, code: str, now: datetime, hardware: dict[str, Any] | None
) -> tuple[str, str] | None:
    """(device id, token) for a valid unused code, consumed; None otherwise.

    ``code`` is what was typed: normalised (case, dashes, spaces, O/I/L), or, for
    a code issued before the grouped format, compared as typed.

    One conditional UPDATE: of two concurrent requests with the same code the
    second waits for the first's row lock (PostgreSQL), then finds the code
    gone and updates nothing.
    """
    token, token_hash = new_token()
    device_id = s.scalar(
        update(Device)
        .where(
            Device.code_hash.in_([hash_secret(c) for c in enrollment_codes.candidates(code)]),
            Device.code_expires_at > now,
        )
        .values(
            token_hash=token_hash,
            code_hash=None,
            code_expires_at=None,
            hardware=hardware,
            last_seen_at=now,
            updated_at=now,
        )
        .returning(Device.id)
        .execution_options(synchronize_session=False)
    )
    return None if device_id is None else (device_id, token)


def delete_device(s: Session, tenant_id: str, device_id: str) -> None:
    """Delete the device row and revoke its token; its plays stay (they name the id).

    Refused (409 ``device_scheduled``) while a schedule targets the device by id.
    The row is locked ``FOR UPDATE``, which a schedule insert's ``FOR KEY SHARE``
    read of its target (:func:`lock_device_target`) waits for: a schedule cannot
    slip in between the check and the delete.
    """
    device = s.scalars(
        select(Device)
        .where(Device.id == device_id, Device.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    scheduled = list(
        s.scalars(
            select(Schedule.id)
            .where(
                Schedule.tenant_id == tenant_id,
                Schedule.target_kind == "device",
                Schedule.target_value == device_id,
            )
            .order_by(Schedule.id)
            .limit(6)
        )
    )
    if scheduled:
        named = ", ".join(scheduled[:5]) + (", ..." if len(scheduled) > 5 else "")
        raise Conflict(
            f"schedules target this device ({named}): delete or retarget them first",
            "device_scheduled",
        )
    revoke_device_token(s, device)
    # Its overrides go with it: no other device's view held them.
    s.execute(
        delete(Override).where(
            Override.tenant_id == tenant_id,
            Override.target_kind == "device",
            Override.target_value == device_id,
        )
    )
    s.delete(device)


def lock_token_hash(s: Session, tenant_id: str, device_id: str) -> str | None:
    """The device's current token hash, its row locked until commit (``FOR UPDATE``:
    a revocation waits); None when it has none or is gone."""
    return s.scalar(
        select(Device.token_hash)
        .where(Device.id == device_id, Device.tenant_id == tenant_id)
        .with_for_update()
    )


def lock_device_target(s: Session, tenant_id: str, device_id: str) -> bool:
    """Whether the tenant has the device, keeping it until commit (``FOR KEY SHARE``)."""
    found = s.scalar(
        select(Device.id)
        .where(Device.id == device_id, Device.tenant_id == tenant_id)
        .with_for_update(read=True, key_share=True)
    )
    return found is not None


def count_devices(s: Session, now: datetime, telemetry_interval_s: int) -> tuple[int, int]:
    total = s.scalar(select(func.count()).select_from(Device)) or 0
    online = (
        s.scalar(
            select(func.count())
            .select_from(Device)
            .where(online_clause(online_since(now, telemetry_interval_s)))
        )
        or 0
    )
    return int(total), int(online)
