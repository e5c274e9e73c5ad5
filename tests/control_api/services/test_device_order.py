"""The devices' sorted pages: every device once, in order, whatever the page size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from control_api.errors import InvalidField
from control_api.services import devices
from control_api.services.devices import DeviceFilter, DeviceOrder
from control_api.store import repository as repo
from control_api.store.models import Device
from tests.control_api.conftest import Api

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
INTERVAL_S = 60  # online = seen within 3 minutes


def _fleet(api: Api) -> tuple[str, dict[str, datetime | None]]:
    with api.db.write() as s:
        tenant, _ = repo.create_tenant(s, "shop", NOW)
    seen: dict[str, datetime | None] = {}
    # Ties on the name and on last_seen_at: the id breaks them.
    plan = [("b", 10), ("a", None), ("b", 10), ("C", 600), ("a", 5), ("d", None), ("e", 600)]
    for name, ago_s in plan:
        box = devices.register_device(api.db, tenant, name, "UTC", [], now=NOW, code_ttl_s=60)
        at = None if ago_s is None else NOW - timedelta(seconds=ago_s)
        with api.db.write() as s:
            s.execute(update(Device).where(Device.id == box.device.id).values(last_seen_at=at))
        seen[box.device.id] = at
    return tenant, seen


def _all_pages(
    api: Api, tenant: str, order: DeviceOrder, limit: int, only: DeviceFilter
) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = devices.list_devices(
            api.db,
            tenant,
            limit,
            after,
            now=NOW,
            telemetry_interval_s=INTERVAL_S,
            only=only,
            order=order,
        )
        ids.extend(d.id for d in page.items)
        if page.next is None:
            return ids
        after = page.next


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_each_order_lists_every_device_once_in_order(api: Api, limit: int) -> None:
    tenant, seen = _fleet(api)
    with api.db.read() as s:
        names = {d.id: d.name for d in s.query(Device)}
    never = sorted(i for i, at in seen.items() if at is None)
    by_seen = sorted((i for i, at in seen.items() if at is not None), key=lambda i: (seen[i], i))
    expected = {
        "name": sorted(seen, key=lambda i: (names[i], i)),
        "last_seen": [*reversed(by_seen), *never],
        "state": [*never, *by_seen],
        "id": sorted(seen),
    }
    for order, ids in expected.items():
        assert _all_pages(api, tenant, order, limit, DeviceFilter()) == ids, order  # type: ignore[arg-type]


def test_the_state_filters_split_online_offline_and_never_seen(api: Api) -> None:
    tenant, seen = _fleet(api)
    online = {i for i, at in seen.items() if at is not None and NOW - at <= timedelta(minutes=3)}
    never = {i for i, at in seen.items() if at is None}
    offline = set(seen) - online - never
    for only, expected in [
        (DeviceFilter(online=True), online),
        (DeviceFilter(online=False, seen=True), offline),
        (DeviceFilter(seen=False), never),
        (DeviceFilter(online=False), offline | never),  # the API's online=false
    ]:
        for order in ("name", "last_seen", "state"):
            assert set(_all_pages(api, tenant, order, 2, only)) == expected, (only, order)


@pytest.mark.parametrize(
    "after", ["bm9wZQ", repo.encode_after('["seen", "x", "dev"]'), repo.encode_after("[1, 2]")]
)
def test_a_cursor_that_is_not_ours_is_refused_by_name(api: Api, after: str) -> None:
    tenant, _ = _fleet(api)
    with pytest.raises(InvalidField) as refused:
        devices.list_devices(
            api.db, tenant, 2, after, now=NOW, telemetry_interval_s=INTERVAL_S, order="state"
        )
    assert refused.value.field == "after"
