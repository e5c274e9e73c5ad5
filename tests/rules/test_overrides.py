"""Overrides in the shared rules: tier override exactly inside [created_at, until).

Property: with any schedules, at any instant, the decision is the winning active
override's (most specific target, then newest, among those with a playable
item) and otherwise exactly what the schedules alone decide; at and after
``until`` an override never plays. The override's edges are boundaries.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lomuz_rules import schedule as rules
from lomuz_rules.model import Decision, Override, Schedule, TargetKind, Tier
from lomuz_rules.timeline import timeline
from tests.player.core.builders import T0, asset, catalogue, playlist, schedule


def essentials(decision: Decision) -> tuple[object, ...]:
    return (
        decision.tier,
        decision.asset_id,
        decision.schedule_id,
        decision.playlist_id,
        decision.playlist_position,
    )


def override(
    override_id: str,
    playlist_id: str,
    *,
    start_min: int,
    minutes: int,
    target: TargetKind = TargetKind.ALL,
) -> Override:
    start = T0 + timedelta(minutes=start_min)
    return Override(override_id, playlist_id, target, start + timedelta(minutes=minutes), start)


ASSETS = [asset("a0"), asset("a1"), asset("late", valid_from=T0 + timedelta(minutes=30))]
PLAYLISTS = [
    playlist("p-sched", "a0"),
    playlist("p-ov1", "a1", "a0"),
    playlist("p-ov2", "a1"),
    playlist("p-late", "late"),  # nothing playable before T0+30 min
    playlist("p-empty"),
]

OVERRIDES = st.lists(
    st.builds(
        lambda i, pl, start, minutes, target: override(
            f"o{i}", pl, start_min=start, minutes=minutes, target=target
        ),
        st.integers(0, 99),
        st.sampled_from([p.id for p in PLAYLISTS]),
        st.integers(-60, 60),
        st.integers(1, 90),
        st.sampled_from(list(TargetKind)),
    ),
    max_size=4,
    unique_by=lambda o: o.id,
)
SCHEDULES = st.lists(
    st.builds(
        lambda i, start, end: schedule(f"s{i}", "p-sched", start=start, end=end),
        st.integers(0, 9),
        st.sampled_from([0, 600, 720, 750]),
        st.sampled_from([1440, 720, 780]),
    ),
    max_size=2,
    unique_by=lambda s: s.id,
)


def expected_winner(overrides: list[Override], at: datetime) -> Override | None:
    """The most specific, then newest, active override whose playlist can play at ``at``."""
    playable = {
        "p-sched": True,
        "p-ov1": True,
        "p-ov2": True,
        "p-late": at >= T0 + timedelta(minutes=30),
        "p-empty": False,
    }
    active = [o for o in overrides if o.created_at <= at < o.until and playable[o.playlist_id]]
    active.sort(key=lambda o: (-o.target.specificity, -o.created_at.timestamp(), o.id))
    return active[0] if active else None


@settings(max_examples=300, deadline=None)
@given(
    overrides=OVERRIDES,
    schedules=SCHEDULES,
    offset_s=st.integers(-3600, 9000),
    edge=st.sampled_from([None, "start", "until"]),
    pick=st.integers(0, 3),
)
def test_the_override_tier_holds_exactly_inside_its_window(
    overrides: list[Override], schedules: list[Schedule], offset_s: int, edge: str | None, pick: int
) -> None:
    at = T0 + timedelta(seconds=offset_s)
    if edge is not None and overrides:
        chosen = overrides[pick % len(overrides)]
        at = chosen.created_at if edge == "start" else chosen.until
    without = catalogue(ASSETS, PLAYLISTS, schedules)
    with_overrides = replace(without, overrides=tuple(overrides))
    got = rules.decide(with_overrides, at)
    winner = expected_winner(overrides, at)
    if winner is None:
        assert essentials(got) == essentials(rules.decide(without, at))
        assert got.tier is not Tier.OVERRIDE
    else:
        assert got.tier is Tier.OVERRIDE
        assert (got.playlist_id, got.schedule_id) == (winner.playlist_id, None)
        assert f"override {winner.id}: active until" in " ".join(got.reasons)
    # Every override's start and end after ``at`` is a boundary (none is missed).
    later = [e for o in overrides for e in (o.created_at, o.until) if e > at]
    if later:
        assert got.next_boundary_at is not None
        assert got.next_boundary_at <= min(later)


def test_after_until_the_schedule_plays_again_and_the_timeline_shows_the_cut() -> None:
    cat = catalogue(ASSETS, PLAYLISTS, [schedule("s", "p-sched")])
    ov = override("o", "p-ov2", start_min=10, minutes=20, target=TargetKind.GROUP)
    cat = replace(cat, overrides=(ov,))
    before = rules.decide(cat, T0 + timedelta(minutes=5))
    during = rules.decide(cat, T0 + timedelta(minutes=10))
    at_end = rules.decide(cat, ov.until)
    assert (before.tier, before.schedule_id, before.next_boundary_at) == (
        Tier.PLAYLIST,
        "s",
        ov.created_at,
    )
    assert (during.tier, during.playlist_id, during.next_boundary_at) == (
        Tier.OVERRIDE,
        "p-ov2",
        ov.until,
    )
    assert (
        during.reasons[-2] == "override o: active until 2026-03-02T12:30:00Z, group, playlist p-ov2"
    )
    assert (at_end.tier, at_end.schedule_id) == (Tier.PLAYLIST, "s")
    assert "override o: ended at 2026-03-02T12:30:00Z" in at_end.reasons
    segments = timeline(cat, T0, T0 + timedelta(hours=1))
    assert [(s.start, s.tier, s.playlist_id) for s in segments] == [
        (T0, Tier.PLAYLIST, "p-sched"),
        (ov.created_at, Tier.OVERRIDE, "p-ov2"),
        (ov.until, Tier.PLAYLIST, "p-sched"),
    ]


def test_an_override_with_nothing_playable_falls_through_with_its_reasons() -> None:
    cat = catalogue(ASSETS, PLAYLISTS, [schedule("s", "p-sched")])
    device = override("od", "p-empty", start_min=0, minutes=60, target=TargetKind.DEVICE)
    group = override("og", "p-late", start_min=0, minutes=60, target=TargetKind.GROUP)
    everyone = override("oa", "p-ov1", start_min=0, minutes=60)
    cat = replace(cat, overrides=(everyone, group, device))
    early = rules.decide(cat, T0 + timedelta(minutes=1))
    assert (early.tier, early.playlist_id) == (Tier.OVERRIDE, "p-ov1")
    assert early.reasons[:3] == (
        "override od: playlist p-empty is empty",
        "override og: no playable item in playlist p-late",
        "item 0 asset late: not valid until 2026-03-02T12:30:00Z",
    )
    late = rules.decide(cat, T0 + timedelta(minutes=30))  # the group's becomes playable
    assert (late.tier, late.playlist_id) == (Tier.OVERRIDE, "p-late")
