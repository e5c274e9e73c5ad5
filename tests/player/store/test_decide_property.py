"""The SQL-backed decision agrees with the pure reference on random catalogues."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from player.core import schedule as reference
from player.core.files import FileState
from player.core.model import (
    Asset,
    Decision,
    MediaType,
    Outcome,
    Play,
    Playlist,
    Schedule,
    TargetKind,
    Tier,
)
from player.store import PlayerStore
from tests.player.core.builders import (
    ALL_DAYS,
    T0,
    asset,
    catalogue,
    manifest,
    playlist,
    schedule,
    sha,
)

# DST transition instants plus an ordinary day.
BASES = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # Europe/Berlin spring forward
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # Europe/Berlin fall back
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # America/New_York spring forward
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # America/New_York fall back
    datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
EDGE_MINUTES = [0, 60, 120, 150, 180, 600, 1020, 1320, 1380, 1439]

instants = st.builds(
    lambda base, minutes, seconds: base + timedelta(minutes=minutes, seconds=seconds),
    st.sampled_from(BASES),
    st.integers(-3 * 1440, 3 * 1440),
    st.sampled_from([0, 0, 0, 30, 59]),
)
# Mostly open validity and present files, so the playlist tier is exercised.
maybe_instant = st.one_of(st.none(), st.none(), instants)


@dataclass
class World:
    timezone: str
    assets: list[Asset]
    playlists: list[Playlist]
    schedules: list[Schedule]
    files: dict[str, FileState]
    plays_at: list[datetime]
    infer_position: list[bool]
    eval_at: list[datetime]
    choice_index: int


@st.composite
def worlds(draw: st.DrawFn) -> World:
    shas = [sha(f"file{i}") for i in range(5)]
    assets = [
        asset(
            f"a{i}",
            sha256=draw(st.sampled_from(shas)),
            emergency=draw(st.booleans()),
            valid_from=draw(maybe_instant),
            valid_until=draw(maybe_instant),
            media_type=draw(st.sampled_from(list(MediaType))),
            duration_ms=draw(st.none() | st.sampled_from([1000, 5000])),
        )
        for i in range(draw(st.integers(1, 7)))
    ]
    playlists = []
    if assets:
        ids = [a.id for a in assets]
        for i in range(draw(st.integers(1, 3))):
            items = draw(st.lists(st.sampled_from(ids), max_size=4))
            durations = {n: 2000 for n in range(len(items)) if draw(st.booleans())}
            playlists.append(playlist(f"p{i}", *items, durations=durations))
    schedules = []
    if playlists:
        # Empty catalogues are covered by unit tests; here rules must combine.
        for i in range(draw(st.integers(1, 4))):
            schedules.append(schedule(
                f"s{i}",
                draw(st.sampled_from([p.id for p in playlists])),
                priority=draw(st.integers(0, 2)),
                target=draw(st.sampled_from(list(TargetKind))),
                days=draw(
                    st.one_of(st.just(ALL_DAYS), st.frozensets(st.integers(1, 7), min_size=1))
                ),
                start=draw(st.sampled_from([0, 0, *EDGE_MINUTES])),
                end=draw(st.sampled_from([*EDGE_MINUTES, 1440, 1440, 1440])),
                valid_from=draw(maybe_instant),
                valid_until=draw(maybe_instant),
                created_at=draw(st.sampled_from([T0 - timedelta(days=1), T0])),
            ))
    files: dict[str, FileState] = {}
    for digest in shas:
        kind = draw(
            st.sampled_from(["absent", "present", "present", "present", "present_q", "absent_q"])
        )
        if kind == "absent":
            continue
        until = draw(instants) if kind.endswith("_q") else None
        files[digest] = FileState(
            digest, 1000, present=kind.startswith("present"), quarantined_until=until,
            quarantine_reason="bad" if until else None,
        )
    # Repeated instants make rotation ties (several positions played at once).
    plays_at = sorted(
        at for at in draw(st.lists(instants, max_size=5)) for _ in range(draw(st.integers(1, 3)))
    )
    edges = sorted(
        {e for a in assets for e in (a.valid_from, a.valid_until) if e is not None}
        | {e for sc in schedules for e in (sc.valid_from, sc.valid_until) if e is not None}
        | {f.quarantined_until for f in files.values() if f.quarantined_until is not None}
    )
    eval_at = draw(st.lists(instants, min_size=1, max_size=3))
    if edges:
        eval_at += draw(st.lists(st.sampled_from(edges), max_size=3))
    return World(
        timezone=draw(st.sampled_from(ZONES)),
        assets=assets,
        playlists=playlists,
        schedules=schedules,
        files=files,
        plays_at=plays_at,
        infer_position=[draw(st.booleans()) for _ in plays_at],
        eval_at=eval_at,
        choice_index=draw(st.integers(0, 10)),
    )


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "player.db"
    PlayerStore.open(path).close()
    return path


def essentials(decision: Decision) -> tuple[object, ...]:
    return (
        decision.tier, decision.asset_id, decision.schedule_id, decision.playlist_id,
        decision.playlist_position, decision.play_duration_ms,
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_sql_decision_matches_reference(template_db: Path, world: World) -> None:
    def choice(candidates: Sequence[str]) -> str:
        return candidates[world.choice_index % len(candidates)]

    rotation: dict[tuple[str, int, str], datetime] = {}
    last_asset_id: str | None = None

    def generated() -> reference.Catalogue:
        return catalogue(
            world.assets, world.playlists, world.schedules, timezone=world.timezone,
            files=world.files, rotation=rotation, last_asset_id=last_asset_id,
        )

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "player.db"
        shutil.copy(template_db, db)
        with PlayerStore.open(db) as store:
            store.apply_manifest(manifest(
                world.assets, world.playlists, world.schedules, timezone=world.timezone
            ))
            for state in world.files.values():
                if state.present:
                    store.mark_file_verified(state.sha256, state.size_bytes, T0)
                if state.quarantined_until is not None:
                    store.quarantine_file(state.sha256, state.quarantined_until, "bad")

            def check(at: datetime) -> Decision:
                got = store.decide(at, choice=choice)
                event(f"tier {got.tier.value}")
                assert got == reference.decide(store.snapshot(), at, choice=choice)
                assert essentials(got) == essentials(
                    reference.decide(generated(), at, choice=choice)
                )
                return got

            for at, infer in zip(world.plays_at, world.infer_position, strict=True):
                decision = check(at)
                if decision.asset_id is None or decision.sha256 is None:
                    continue
                store.record_play(
                    Play(
                        id=str(uuid.uuid4()), asset_id=decision.asset_id,
                        sha256=decision.sha256, started_at=at,
                        ended_at=at + timedelta(seconds=1), source=decision.tier,
                        outcome=Outcome.COMPLETED, schedule_id=decision.schedule_id,
                        playlist_id=decision.playlist_id,
                    ),
                    playlist_position=None if infer else decision.playlist_position,
                )
                if decision.tier is Tier.PLAYLIST:
                    assert decision.playlist_id is not None
                    assert decision.playlist_position is not None
                    key = (decision.playlist_id, decision.playlist_position, decision.asset_id)
                    rotation[key] = max(rotation.get(key, at), at)
                last_asset_id = decision.asset_id
            for at in world.eval_at:
                check(at)
