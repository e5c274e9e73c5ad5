"""Devices: register (with an enrollment code), list, read, edit, new code, decommission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from control_api.core.presence import online_since
from control_api.services.pages import Page
from control_api.store import broker_deletions
from control_api.store import commands as command_rows
from control_api.store import devices as device_rows
from control_api.store import presence as presence_rows
from control_api.store import repository as repo
from control_api.store import webhooks as webhook_rows
from control_api.store.db import Database
from control_api.store.devices import DeviceOrder
from control_api.store.models import Device

__all__ = [
    "EDITABLE",
    "DeviceCounts",
    "DeviceFilter",
    "DeviceOrder",  # the store's sort names, for the panel
    "Registered",
    "TokenRevocation",
    "count_devices",
    "decommission_device",
    "edit_device",
    "get_device",
    "list_devices",
    "new_enrollment_code",
    "register_device",
]

EDITABLE = ("name", "timezone", "groups")


@dataclass(frozen=True)
class Registered:
    device: Device
    enrollment_code: str  # plaintext, shown once


@dataclass(frozen=True)
class TokenRevocation:
    """What a revoked device token takes with it (decommission, a new enrollment code).

    ``broker_account``: the API manages broker accounts (issue 13), so the revoking
    transaction also records the deletion of the device's account
    (``broker_deletions``). One transaction: no crash or database error can leave
    the token revoked and the account alive (the revocation thread deletes what is
    recorded, sooner or later). ``after_commit(device_id)`` runs once it committed:
    this process's cached token and retained nudge go, the revocation thread wakes.
    """

    broker_account: bool
    after_commit: Callable[[str], None]

    def record(self, s: Session, device_id: str, now: datetime) -> None:
        """In the revoking transaction."""
        if self.broker_account:
            broker_deletions.record(s, device_id, now)


@dataclass(frozen=True)
class DeviceCounts:
    total: int
    online: int


def register_device(
    db: Database,
    tenant_id: str,
    name: str,
    timezone: str,
    groups: list[str],
    *,
    now: datetime,
    code_ttl_s: int,
) -> Registered:
    device = Device(
        id=repo.new_id("dev"),
        tenant_id=tenant_id,
        name=name,
        timezone=timezone,
        groups=groups,
        created_at=now,
        updated_at=now,
    )
    code = device_rows.issue_enrollment_code(device, now, code_ttl_s)
    with db.write() as s:
        s.add(device)
    return Registered(device, code)


@dataclass(frozen=True)
class DeviceFilter:
    """``GET /v1/devices?group=&online=&q=`` and the panel's state filter; None = not
    filtered. ``seen``: False = never seen, True = seen at least once (the panel's
    "offline" is ``online=False, seen=True``)."""

    group: str | None = None
    online: bool | None = None
    name_contains: str | None = None
    seen: bool | None = None


def list_devices(
    db: Database,
    tenant_id: str,
    limit: int,
    after: str | None,
    *,
    now: datetime,
    telemetry_interval_s: int,
    only: DeviceFilter = DeviceFilter(),
    order: DeviceOrder = "id",
) -> Page[Device]:
    """One page of the tenant's devices (``order``: see :data:`DeviceOrder`)."""
    boundary = online_since(now, telemetry_interval_s)
    with db.read() as s:
        rows, nxt = device_rows.page_devices(
            s,
            tenant_id,
            limit,
            after,
            group=only.group,
            online=only.online,
            online_boundary=boundary,
            ever_seen=only.seen,
            name_contains=only.name_contains,
            order=order,
        )
    return Page(rows, nxt)


def get_device(db: Database, tenant_id: str, device_id: str) -> Device:
    with db.read() as s:
        return device_rows.get_device(s, tenant_id, device_id)


def edit_device(
    db: Database,
    tenant_id: str,
    device_id: str,
    changes: dict[str, Any],
    *,
    now: datetime,
    keep_revisions: int,
) -> Device:
    """Apply ``changes`` (valid values of :data:`EDITABLE` fields) to the device."""
    repo.check_editable(changes, EDITABLE)
    with db.write() as s:
        device = device_rows.get_device(s, tenant_id, device_id, for_update=True)
        repo.apply_changes(device, changes, now)
        # The device block of its manifest changed: its next sync must not be a 304.
        repo.record_changes(s, tenant_id, [("device", device.id, False)], keep_revisions)
    return device


def new_enrollment_code(
    db: Database,
    tenant_id: str,
    device_id: str,
    *,
    now: datetime,
    code_ttl_s: int,
    revocation: TokenRevocation,
) -> str:
    """A new one-time code; the device's token is revoked (see :class:`TokenRevocation`)."""
    with db.write() as s:
        device = device_rows.get_device(s, tenant_id, device_id, for_update=True)
        code = device_rows.reissue_enrollment_code(s, device, now, code_ttl_s)
        revocation.record(s, device_id, now)
    revocation.after_commit(device_id)
    return code


def decommission_device(
    db: Database, tenant_id: str, device_id: str, revocation: TokenRevocation, *, now: datetime
) -> None:
    """The row goes, its token with it (see :class:`TokenRevocation`); its plays stay
    (they carry the id, which is never issued again); its remote commands and
    presence transitions go. Conflict ``device_scheduled`` while a schedule targets it."""
    with db.write() as s:
        device_rows.delete_device(s, tenant_id, device_id)
        command_rows.delete_device_commands(s, tenant_id, device_id)
        webhook_rows.delete_device_alerts(s, tenant_id, device_id)
        presence_rows.delete_device_presence(s, tenant_id, device_id)
        revocation.record(s, device_id, now)
    revocation.after_commit(device_id)


def count_devices(db: Database, now: datetime, telemetry_interval_s: int) -> DeviceCounts:
    """Every tenant's devices, and how many are online (for /metrics)."""
    with db.read() as s:
        total, online = device_rows.count_devices(s, now, telemetry_interval_s)
    return DeviceCounts(total, online)
