"""Download priority and disk-budget rules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.core.downloads import (
    CachedFile,
    DiskBudget,
    NeededFile,
    PriorityClass,
    download_order,
    plan_eviction,
)

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def sha(n: int) -> str:
    return f"{n:064x}"


def need(
    n: int, size: int = 100, playlists: tuple[str, ...] = (), emergency: bool = False
) -> NeededFile:
    return NeededFile(
        sha(n), size, f"/v1/media/{sha(n)}", (f"a{n}",), frozenset(playlists), emergency
    )


# -- priority ------------------------------------------------------------------------


def test_classes_active_then_emergency_then_upcoming_soonest_first_then_rest() -> None:
    needed = [
        need(1, playlists=("unscheduled",)),
        need(2, playlists=("later",)),
        need(3, emergency=True),
        need(4, playlists=("soon",)),
        need(5, playlists=("now",)),
    ]

    order = download_order(
        needed,
        active_playlist_ids={"now"},
        next_start_by_playlist={
            "later": NOW + timedelta(hours=5),
            "soon": NOW + timedelta(hours=1),
        },
    )

    assert [t.sha256 for t in order] == [sha(5), sha(3), sha(4), sha(2), sha(1)]
    assert [t.priority for t in order] == [
        PriorityClass.ACTIVE,
        PriorityClass.EMERGENCY,
        PriorityClass.UPCOMING,
        PriorityClass.UPCOMING,
        PriorityClass.OTHER,
    ]
    assert order[2].starts_at == NOW + timedelta(hours=1)


def test_a_file_takes_its_best_class_and_duplicates_merge() -> None:
    needed = [need(1, playlists=("later",)), need(1, playlists=("now",)), need(2, emergency=True)]
    needed[1] = NeededFile(sha(1), 100, "/x", ("other-asset",), frozenset({"now"}))

    order = download_order(
        needed, active_playlist_ids={"now"}, next_start_by_playlist={"later": NOW}
    )

    assert [t.sha256 for t in order] == [sha(1), sha(2)]
    assert order[0].priority is PriorityClass.ACTIVE
    assert order[0].asset_ids == ("a1", "other-asset")


def test_within_a_class_smaller_files_first_and_present_files_skipped() -> None:
    needed = [
        need(1, size=500, emergency=True),
        need(2, size=10, emergency=True),
        need(3, emergency=True),
    ]

    order = download_order(
        needed, active_playlist_ids=(), next_start_by_playlist={}, present={sha(3)}
    )

    assert [t.sha256 for t in order] == [sha(2), sha(1)]


def test_bad_priority_input_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        download_order(
            [need(1)], active_playlist_ids=(), next_start_by_playlist={"p": datetime(2026, 1, 1)}
        )
    with pytest.raises(ValueError, match="sizes"):
        download_order(
            [need(1, size=1), need(1, size=2)], active_playlist_ids=(), next_start_by_playlist={}
        )


# -- eviction ------------------------------------------------------------------------------


def cached(
    n: int, size: int, played_h: int | None, referenced: bool = False, scheduled: bool = False
) -> CachedFile:
    played = NOW - timedelta(hours=played_h) if played_h is not None else None
    return CachedFile(sha(n), size, played, referenced, scheduled)


def test_evicts_unreferenced_least_recently_played_first_and_only_what_is_needed() -> None:
    files = [
        cached(1, 100, played_h=1),
        cached(2, 100, played_h=10),
        cached(3, 100, played_h=None),  # never played: first to go
        cached(4, 100, played_h=50, referenced=True),
        cached(5, 100, played_h=99, referenced=True, scheduled=True),
    ]

    plan = plan_eviction(
        files, DiskBudget(max_cache_bytes=300, min_free_bytes=0, free_bytes=10_000)
    )

    assert plan.evict == (sha(3), sha(2))
    assert plan.freed_bytes == 200
    assert plan.shortfall_bytes == 0
    assert not plan.storage_full


def test_min_free_and_pending_downloads_count() -> None:
    files = [cached(1, 100, 5), cached(2, 100, 1)]

    plan = plan_eviction(
        files,
        DiskBudget(max_cache_bytes=None, min_free_bytes=500, free_bytes=600, pending_bytes=150),
    )

    assert plan.needed_bytes == 50
    assert plan.evict == (sha(1),)


def test_storage_full_when_the_scheduled_set_does_not_fit() -> None:
    files = [cached(1, 400, 1, referenced=True, scheduled=True), cached(2, 300, 2)]

    plan = plan_eviction(
        files,
        DiskBudget(
            max_cache_bytes=1000,
            min_free_bytes=0,
            free_bytes=10_000,
            pending_bytes=700,
            pending_scheduled_bytes=700,
        ),
    )

    assert plan.storage_full
    assert plan.scheduled_bytes == 1100
    assert plan.evict == (sha(2),)  # frees what it can for the downloads
    assert plan.shortfall_bytes == 100


def test_bad_budget_input_is_refused() -> None:
    with pytest.raises(ValueError, match="free_bytes"):
        DiskBudget(max_cache_bytes=None, min_free_bytes=0, free_bytes=-1)
    with pytest.raises(ValueError, match="twice"):
        plan_eviction([cached(1, 1, 1), cached(1, 1, 1)], DiskBudget(None, 0, 0))


files_strategy = st.lists(
    st.builds(
        CachedFile,
        sha256=st.integers(0, 10**6).map(sha),
        size_bytes=st.integers(0, 1000),
        last_played_at=st.none() | st.integers(0, 10_000).map(lambda m: NOW - timedelta(minutes=m)),
        referenced=st.booleans(),
        scheduled=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda f: f.sha256,
)
budgets = st.builds(
    DiskBudget,
    max_cache_bytes=st.none() | st.integers(0, 20_000),
    min_free_bytes=st.integers(0, 5_000),
    free_bytes=st.integers(0, 20_000),
    pending_bytes=st.integers(0, 3_000),
).flatmap(
    lambda b: st.integers(0, b.pending_bytes).map(
        lambda s: DiskBudget(b.max_cache_bytes, b.min_free_bytes, b.free_bytes, b.pending_bytes, s)
    )
)


@given(files_strategy, budgets)
def test_eviction_properties(files: list[CachedFile], budget: DiskBudget) -> None:
    plan = plan_eviction(files, budget)
    by_sha = {f.sha256: f for f in files}
    evicted = [by_sha[s] for s in plan.evict]

    # Never evicts a scheduled or referenced file.
    assert all(not f.scheduled and not f.referenced for f in evicted)

    # LRU first: every kept candidate was played no earlier than every evicted one.
    def age_key(f: CachedFile) -> tuple[bool, float]:
        return (
            f.last_played_at is not None,
            f.last_played_at.timestamp() if f.last_played_at else 0.0,
        )

    kept_candidates = [
        f for f in files if not f.scheduled and not f.referenced and f.sha256 not in plan.evict
    ]
    if evicted and kept_candidates:
        assert max(age_key(f) for f in evicted) <= min(age_key(f) for f in kept_candidates)
    # Evicts enough when it can, and no more than one file past what was needed.
    assert plan.freed_bytes == sum(f.size_bytes for f in evicted)
    if plan.shortfall_bytes > 0:
        assert not kept_candidates
    if evicted:
        assert plan.freed_bytes - evicted[-1].size_bytes < plan.needed_bytes
    # storage_full iff the scheduled set exceeds the budget's capacity.
    scheduled = sum(f.size_bytes for f in files if f.scheduled) + budget.pending_scheduled_bytes
    capacity = sum(f.size_bytes for f in files) + budget.free_bytes - budget.min_free_bytes
    if budget.max_cache_bytes is not None:
        capacity = min(capacity, budget.max_cache_bytes)
    assert plan.storage_full == (scheduled > max(capacity, 0))


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.booleans(), st.sets(st.sampled_from("pqrs"), max_size=3)),
        max_size=20,
    ),
    st.sets(st.sampled_from("pqrs")),
    st.dictionaries(st.sampled_from("pqrs"), st.integers(0, 1000)),
)
def test_priority_order_is_monotone_in_class(entries, active, starts) -> None:
    needed = [need(n, size=n, playlists=tuple(pl), emergency=em) for n, em, pl in entries]
    start_map = {p: NOW + timedelta(minutes=m) for p, m in starts.items()}

    order = download_order(needed, active_playlist_ids=active, next_start_by_playlist=start_map)

    assert len({t.sha256 for t in order}) == len(order) == len({n for n, _, _ in entries})
    keys = [(t.priority, t.starts_at or NOW) for t in order]
    assert keys == sorted(keys)
    for t in order:
        uses = set().union(*(pl for n, _, pl in entries if sha(n) == t.sha256))
        assert (t.priority is PriorityClass.ACTIVE) == bool(uses & active)
