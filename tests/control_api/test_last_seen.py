"""Devices' last_seen_at in batches: a device request costs no write of its own, the
batch lands at the next flush (or at shutdown), a failed flush loses nothing, and
two workers flushing the same devices at once both succeed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from control_api.last_seen import LastSeenWriter
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import Device
from tests.control_api.conftest import make_api

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def add_devices(db: Database, count: int, seen_at: datetime | None = None) -> list[str]:
    with db.write() as s:
        tenant_id, _ = repo.create_tenant(s, "shop", T0)
        ids = [f"dev_{i:05d}" for i in range(count)]
        rows = [
            {"id": d, "tenant_id": tenant_id, "name": d, "timezone": "UTC", "groups": [],
             "last_seen_at": seen_at, "created_at": T0, "updated_at": T0}
            for d in ids
        ]  # fmt: skip
        s.execute(insert(Device), rows)
    return ids


def seen_at(db: Database, device_id: str) -> datetime | None:
    with db.read() as s:
        return s.scalar(select(Device.last_seen_at).where(Device.id == device_id))


def test_a_device_request_is_written_at_the_next_flush_not_by_the_request(
    settings_env: dict[str, str],
) -> None:
    for api in make_api({**settings_env, "LOMUZ_LAST_SEEN_WRITE_S": "3600"}):
        device_id, device_token = api.device(api.tenant())
        enrolled_seen = seen_at(api.db, device_id)
        assert api.call("GET", "/v1/device/manifest", device_token).status_code == 200
        assert seen_at(api.db, device_id) == enrolled_seen
        assert api.app.last_seen.pending() == 1
        assert api.app.last_seen.flush() == 1
        written = seen_at(api.db, device_id)
        assert written is not None and enrolled_seen is not None and written > enrolled_seen
        assert api.app.last_seen.pending() == 0


def test_stop_writes_what_is_pending(db: Database) -> None:
    (device_id,) = add_devices(db, 1)
    clock = Clock()
    writer = LastSeenWriter(db, clock, period_s=3600)
    writer.start()
    writer.seen(device_id)
    writer.stop()
    assert seen_at(db, device_id) == T0


def test_the_newest_time_wins_in_memory_and_in_the_database(db: Database) -> None:
    later = T0 + timedelta(minutes=5)
    first, second = add_devices(db, 2, seen_at=later)
    clock = Clock()
    writer = LastSeenWriter(db, clock, period_s=3600)
    writer.seen(first)  # older than what telemetry already wrote
    clock.at = later + timedelta(minutes=1)
    writer.seen(second)
    writer.seen(second)
    assert writer.flush() == 2
    assert seen_at(db, first) == later
    assert seen_at(db, second) == later + timedelta(minutes=1)


def test_a_flush_the_database_refuses_keeps_its_times_for_the_next(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'late.db'}"
    db = Database(url)  # not migrated yet: no devices table
    clock = Clock()
    writer = LastSeenWriter(db, clock, period_s=3600)
    writer.seen("dev_00000")
    assert writer.flush() == 0
    assert writer.pending() == 1
    db.upgrade()
    (device_id,) = add_devices(db, 1)
    assert writer.flush() == 1
    assert seen_at(db, device_id) == T0
    db.dispose()


def test_period_zero_writes_on_each_request(db: Database) -> None:
    (device_id,) = add_devices(db, 1)
    writer = LastSeenWriter(db, Clock(), period_s=0)
    writer.seen(device_id)
    assert writer.pending() == 0
    assert seen_at(db, device_id) == T0


def test_two_workers_flushing_the_same_devices_at_once_both_write(db: Database) -> None:
    ids = add_devices(db, 1200)
    clocks = [Clock(), Clock()]
    writers = [LastSeenWriter(db, clock, period_s=3600) for clock in clocks]
    for round_ in range(3):
        for offset, (writer, clock) in enumerate(zip(writers, clocks, strict=True)):
            clock.at = T0 + timedelta(seconds=10 * round_ + offset)
            # Opposite orders of arrival; the flush sorts them.
            for device_id in ids if offset == 0 else reversed(ids):
                writer.seen(device_id)
        written: list[int] = []
        threads = [
            threading.Thread(target=lambda w=w, out=written: out.append(w.flush())) for w in writers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert written == [len(ids), len(ids)]
    newest = T0 + timedelta(seconds=21)
    assert {seen_at(db, d) for d in (ids[0], ids[-1])} == {newest}
