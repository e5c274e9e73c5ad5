"""The per-day rollups of plays: ingest adds exactly the plays it stores (a re-sent
batch adds nothing), and the rollups always equal a GROUP BY over the plays.
SQLite, and PostgreSQL when LOMUZ_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text
from sqlalchemy import inspect as sa_inspect

from control_api.core import plays as pp
from control_api.services import plays
from control_api.store import plays as play_rows
from control_api.store import repository as repo
from control_api.store.db import MIGRATIONS_DIR, Database
from control_api.store.models import (
    Asset,
    Play,
    PlayDay,
    PlayDayAsset,
    PlayDayDevice,
    Tenant,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
ASSETS = ("ast_a", "ast_b", "ast_c")
DEVICES = ("dev_1", "dev_2")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


def _sha(asset_id: str) -> str:
    return hashlib.sha256(asset_id.encode()).hexdigest()


def _tenant(db: Database, suffix: str = "") -> str:
    """A tenant with the assets :data:`ASSETS`, each id followed by ``suffix`` (asset
    ids are unique across tenants)."""
    with db.write() as s:
        tenant_id, _ = repo.create_tenant(s, "shop", NOW)
        s.flush()
        s.execute(
            insert(Asset),
            [
                {
                    "id": f"{a}{suffix}",
                    "tenant_id": tenant_id,
                    "sha256": _sha(f"{a}{suffix}"),
                    "size_bytes": 1,
                    "media_type": "audio",
                    "content_type": "audio/mpeg",
                    "filename": f"{a}.mp3",
                    "title": a.upper(),
                    "emergency": False,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for a in ASSETS
            ],
        )
    return tenant_id


def _play(
    n: int, asset_id: str, started_at: datetime, length: timedelta, offset_h: int = 0
) -> dict[str, object]:
    """A play as a device sends it; ``offset_h`` spells the instants in another zone."""
    zone = timezone(timedelta(hours=offset_h))
    return {
        "id": str(uuid.UUID(int=n + 1)),
        "asset_id": asset_id,
        "sha256": _sha(asset_id),
        "started_at": started_at.astimezone(zone).isoformat(),
        "ended_at": (started_at + length).astimezone(zone).isoformat(),
        "source": "playlist",
        "outcome": "completed",
    }


def _rollups(db: Database, tenant_id: str) -> tuple[dict[object, list[int]], ...]:
    """The rollups' rows: per day, per (day, asset), per (day, device)."""
    with db.read() as s:
        per_day = {
            r.day: [r.plays, r.played_ms]
            for r in s.scalars(select(PlayDay).where(PlayDay.tenant_id == tenant_id))
        }
        by_asset = {
            (r.day, r.asset_id): [r.plays, r.played_ms]
            for r in s.scalars(select(PlayDayAsset).where(PlayDayAsset.tenant_id == tenant_id))
        }
        by_device = {
            (r.day, r.device_id): [r.plays, r.played_ms]
            for r in s.scalars(select(PlayDayDevice).where(PlayDayDevice.tenant_id == tenant_id))
        }
    return per_day, by_asset, by_device


def _from_plays(db: Database, tenant_id: str) -> tuple[dict[object, list[int]], ...]:
    """The rollups recomputed from the stored plays, with nothing of the store's code."""
    per_day: dict[object, list[int]] = {}
    by_asset: dict[object, list[int]] = {}
    by_device: dict[object, list[int]] = {}
    with db.read() as s:
        for p in s.scalars(select(Play).where(Play.tenant_id == tenant_id)):
            day = p.started_at.astimezone(UTC).date()
            length_us = (p.ended_at - p.started_at) / timedelta(microseconds=1)
            for tallies, key in (
                (per_day, day),
                (by_asset, (day, p.asset_id)),
                (by_device, (day, p.device_id)),
            ):
                tally = tallies.setdefault(key, [0, 0])
                tally[0] += 1
                tally[1] += int(length_us) // 1000
    return per_day, by_asset, by_device


def _group_by(db: Database, tenant_id: str) -> tuple[Counter[str], Counter[str]]:
    """Plays per asset and per device, counted by the database over the plays table."""
    with db.read() as s:
        per_asset = Counter(
            {
                key: int(count)
                for key, count in s.execute(
                    select(Play.asset_id, func.count())
                    .where(Play.tenant_id == tenant_id)
                    .group_by(Play.asset_id)
                )
            }
        )
        per_device = Counter(
            {
                key: int(count)
                for key, count in s.execute(
                    select(Play.device_id, func.count())
                    .where(Play.tenant_id == tenant_id)
                    .group_by(Play.device_id)
                )
            }
        )
    return per_asset, per_device


def _check_consistent(db: Database, tenant_id: str) -> None:
    rollups = _rollups(db, tenant_id)
    assert rollups == _from_plays(db, tenant_id)
    _, by_asset, by_device = rollups
    per_asset, per_device = _group_by(db, tenant_id)
    summed_assets: Counter[str] = Counter()
    for (_, asset_id), (count, _) in by_asset.items():
        summed_assets[asset_id] += count
    summed_devices: Counter[str] = Counter()
    for (_, device_id), (count, _) in by_device.items():
        summed_devices[device_id] += count
    assert summed_assets == per_asset
    assert summed_devices == per_device


def test_ingest_counts_a_batch_once_and_a_re_sent_batch_adds_nothing(db: Database) -> None:
    tenant_id = _tenant(db)
    batch = [
        _play(0, "ast_a", MIDNIGHT - timedelta(seconds=1), timedelta(seconds=3, microseconds=999)),
        _play(1, "ast_a", MIDNIGHT, timedelta(minutes=3)),
        _play(2, "ast_b", MIDNIGHT - timedelta(hours=1), timedelta(0), offset_h=2),
    ]
    first = plays.ingest(db, tenant_id, "dev_1", batch, NOW)
    again = plays.ingest(db, tenant_id, "dev_1", batch + batch[:1], NOW)
    assert (first.accepted, first.duplicates) == (3, 0)
    assert (again.accepted, again.duplicates) == (0, 4)
    per_day, by_asset, by_device = _rollups(db, tenant_id)
    day_before, day = date(2026, 12, 1), date(2026, 12, 2)
    # 23:59:59 UTC is the day before; 01:00+02:00 is 23:00 UTC the day before too.
    assert by_asset == {
        (day_before, "ast_a"): [1, 3000],
        (day, "ast_a"): [1, 180_000],
        (day_before, "ast_b"): [1, 0],
    }
    assert by_device == {(day_before, "dev_1"): [2, 3000], (day, "dev_1"): [1, 180_000]}
    assert per_day == {day_before: [2, 3000], day: [1, 180_000]}
    _check_consistent(db, tenant_id)


def test_a_rejected_play_is_not_counted(db: Database) -> None:
    tenant_id = _tenant(db)
    good = _play(0, "ast_a", MIDNIGHT, timedelta(seconds=1))
    unknown_asset = {**_play(1, "ast_a", MIDNIGHT, timedelta(seconds=1)), "asset_id": "ast_zz"}
    backwards = _play(2, "ast_a", MIDNIGHT, timedelta(seconds=-1))
    answer = plays.ingest(db, tenant_id, "dev_1", [good, unknown_asset, backwards], NOW)
    assert (answer.accepted, len(answer.rejected)) == (1, 2)
    _, by_asset, _ = _rollups(db, tenant_id)
    assert by_asset == {(date(2026, 12, 2), "ast_a"): [1, 1000]}


def test_the_counts_read_the_rollups_not_the_plays(db: Database) -> None:
    """A play inserted around ingest (no rollup) is not counted: proof of what is read."""
    tenant_id = _tenant(db)
    plays.ingest(db, tenant_id, "dev_1", [_play(0, "ast_a", MIDNIGHT, timedelta(1))], NOW)
    with db.write() as s:
        s.execute(
            insert(Play),
            {
                "tenant_id": tenant_id,
                "id": str(uuid.UUID(int=99)),
                "device_id": "dev_2",
                "asset_id": "ast_b",
                "sha256": _sha("ast_b"),
                "started_at": MIDNIGHT,
                "ended_at": MIDNIGHT,
                "source": "playlist",
                "outcome": "completed",
                "received_at": NOW,
            },
        )
    counts = plays.count_plays(db, tenant_id, date(2026, 12, 1), date(2026, 12, 3), 10)
    assert [(c.key, c.plays) for c in counts.per_day] == [
        ("2026-12-01", 0),
        ("2026-12-02", 1),
        ("2026-12-03", 0),
    ]
    assert [(c.key, c.plays, c.name) for c in counts.top_assets] == [("ast_a", 1, "AST_A")]
    assert [(c.key, c.plays) for c in counts.top_devices] == [("dev_1", 1)]
    assert counts.total == 1


# A pool of plays (each id always the same play, as a device re-sends it) and
# batches drawn from it with repeats, each batch from one of the devices.
_PLAY_SPECS = st.tuples(
    st.sampled_from(ASSETS),
    st.integers(min_value=-86_400_000_000, max_value=2 * 86_400_000_000),  # us from midnight
    st.integers(min_value=0, max_value=600_000_000),  # length in us
    st.sampled_from([-11, 0, 5, 14]),  # the zone the device spells it in
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pool=st.lists(_PLAY_SPECS, min_size=1, max_size=12),
    batches=st.lists(
        st.tuples(st.sampled_from(DEVICES), st.lists(st.integers(0, 11), max_size=15)),
        min_size=1,
        max_size=5,
    ),
)
def test_rollups_equal_a_group_by_over_the_plays_after_any_batches(
    db: Database,
    pool: list[tuple[str, int, int, int]],
    batches: list[tuple[str, list[int]]],
) -> None:
    suffix = f"_{uuid.uuid4().hex[:8]}"
    tenant_id = _tenant(db, suffix)
    sent: set[int] = set()
    accepted = 0
    for device_id, picks in batches:
        batch = []
        for pick in picks:
            n = pick % len(pool)
            asset_id, start_us, length_us, offset_h = pool[n]
            started_at = MIDNIGHT + timedelta(microseconds=start_us)
            length = timedelta(microseconds=length_us)
            batch.append(_play(n, f"{asset_id}{suffix}", started_at, length, offset_h))
        answer = plays.ingest(db, tenant_id, device_id, batch, NOW)
        assert answer.accepted == len({p["id"] for p in batch} - {_id(n) for n in sent})
        assert answer.accepted + answer.duplicates == len(batch)
        accepted += answer.accepted
        sent.update(pick % len(pool) for pick in picks)
        _check_consistent(db, tenant_id)
    per_day, _, _ = _rollups(db, tenant_id)
    assert sum(count for count, _ in per_day.values()) == accepted == len(sent)


def _id(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


@given(
    stored=st.lists(
        st.tuples(
            st.sampled_from(ASSETS),
            st.sampled_from(DEVICES),
            st.integers(min_value=-86_400_000_000, max_value=2 * 86_400_000_000),
            st.integers(min_value=0, max_value=10**12),  # up to ~11 days long
        ),
        max_size=40,
    )
)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_upgrade_fills_the_rollups_from_the_plays_stored_at_0009(
    database_url: str, stored: list[tuple[str, str, int, int]]
) -> None:
    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            upgraded = sa_inspect(conn).has_table("play_days")
        if upgraded:  # an example before this one: back to 0009, its plays gone
            _migrate(db, "0009", down=True)
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM plays"))
                conn.execute(text("DELETE FROM tenants"))
        _migrate(db, "0009")
        with db.write() as s:
            s.add(Tenant(id="ten_1", name="shop", revision=0, horizon=0, created_at=NOW))
            s.add(Tenant(id="ten_2", name="other", revision=0, horizon=0, created_at=NOW))
            s.flush()
            rows = [
                {
                    "tenant_id": "ten_1" if n % 3 else "ten_2",
                    "id": str(uuid.UUID(int=n)),
                    "device_id": device_id,
                    "asset_id": asset_id,
                    "sha256": _sha(asset_id),
                    "started_at": MIDNIGHT + timedelta(microseconds=start_us),
                    "ended_at": MIDNIGHT + timedelta(microseconds=start_us + length_us),
                    "source": "playlist",
                    "outcome": "completed",
                    "received_at": NOW,
                }
                for n, (asset_id, device_id, start_us, length_us) in enumerate(stored)
            ]
            if rows:
                s.execute(insert(Play), rows)
        _migrate(db, "0010")
        for tenant_id in ("ten_1", "ten_2"):
            _check_consistent(db, tenant_id)
        with db.read() as s:
            total = s.scalar(select(func.coalesce(func.sum(PlayDay.plays), 0)))
        assert total == len(stored)
    finally:
        db.dispose()


def test_the_downgrade_drops_the_rollups_and_restores_the_index(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        _migrate(db, "0009", down=True)
        with db.engine.connect() as conn:
            inspector = sa_inspect(conn)
            assert not inspector.has_table("play_days")
            assert not inspector.has_table("play_days_assets")
            assert not inspector.has_table("play_days_devices")
            indexes = {i["name"] for i in inspector.get_indexes("plays")}
        assert "ix_plays_tenant_started_counts" in indexes
        db.upgrade()
    finally:
        db.dispose()


def test_two_uploads_of_one_batch_at_once_count_it_once(db: Database) -> None:
    """The second writer's insert waits on the first's uncommitted plays, then stores
    none of them: it must add nothing to the rollups (RETURNING, not its own guess)."""
    tenant_id = _tenant(db)
    batch = [
        pp.parse_play(_play(n, "ast_a", MIDNIGHT + timedelta(minutes=n), timedelta(1)), "p")
        for n in range(5)
    ]
    first_inserted, first_may_commit = threading.Event(), threading.Event()
    answers: dict[str, tuple[int, int]] = {}

    def first() -> None:
        with db.write() as s:
            answers["first"] = play_rows.ingest_plays(s, tenant_id, "dev_1", batch, NOW)
            first_inserted.set()
            first_may_commit.wait(timeout=10)

    def second() -> None:
        with db.write() as s:
            answers["second"] = play_rows.ingest_plays(s, tenant_id, "dev_2", batch, NOW)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_inserted.wait(timeout=10)
    threads[1].start()
    time.sleep(0.5)  # the second is now waiting (on the plays' keys, or SQLite's lock)
    first_may_commit.set()
    for thread in threads:
        thread.join(timeout=20)
    assert answers == {"first": (5, 0), "second": (0, 5)}
    _check_consistent(db, tenant_id)
    per_day, _, by_device = _rollups(db, tenant_id)
    assert per_day == {date(2026, 12, 2): [5, 5 * 86_400_000]}
    assert set(by_device) == {(date(2026, 12, 2), "dev_1")}
