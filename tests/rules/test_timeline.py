"""The timeline: contiguous segments covering the range, each holding the rules' decision."""

from __future__ import annotations

import bisect
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lomuz_rules.model import Decision, FilePresence, TargetKind, Tier
from lomuz_rules.schedule import Catalogue, decide
from lomuz_rules.timeline import Segment, timeline
from tests.player.core.builders import T0, asset, catalogue, playlist, schedule, sha

PARIS_MONDAY = datetime(2026, 3, 23, 0, 0, tzinfo=UTC)  # DST starts the Sunday after


def key(held: Segment | Decision) -> tuple[Tier, str | None, str | None]:
    return (held.tier, held.schedule_id, held.playlist_id)


def test_an_overnight_schedule_over_two_days() -> None:
    cat = catalogue(
        [asset("a1"), asset("e1", emergency=True)],
        [playlist("p1", "a1")],
        [schedule("night", "p1", days=[1], start=22 * 60, end=2 * 60)],
        timezone="Europe/Paris",
    )
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # Monday, 01:00 in Paris
    segments = timeline(cat, start, start + timedelta(days=2))
    # Monday 22:00-Tuesday 02:00 Paris (UTC+1) is 21:00-01:00 UTC.
    assert segments == [
        Segment(start, datetime(2026, 3, 2, 21, 0, tzinfo=UTC), Tier.EMERGENCY, None, None),
        Segment(
            datetime(2026, 3, 2, 21, 0, tzinfo=UTC),
            datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
            Tier.PLAYLIST,
            "night",
            "p1",
        ),
        Segment(
            datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
            start + timedelta(days=2),
            Tier.EMERGENCY,
            None,
            None,
        ),
    ]


def test_boundaries_that_change_nothing_leave_no_cut() -> None:
    # Across the spring-forward night, an asset edge in a still playable playlist.
    cat = catalogue(
        [asset("a1"), asset("a2", valid_until=PARIS_MONDAY + timedelta(days=2))],
        [playlist("p1", "a1", "a2")],
        [schedule("all-day", "p1")],
        timezone="Europe/Paris",
    )
    segments = timeline(cat, PARIS_MONDAY, PARIS_MONDAY + timedelta(days=7))
    assert segments == [
        Segment(PARIS_MONDAY, PARIS_MONDAY + timedelta(days=7), Tier.PLAYLIST, "all-day", "p1")
    ]


def test_fallback_silence_and_no_schedules() -> None:
    segments = timeline(Catalogue(), T0, T0 + timedelta(hours=1), Tier.SILENCE)
    assert segments == [Segment(T0, T0 + timedelta(hours=1), Tier.SILENCE, None, None)]


def test_a_quarantine_end_and_a_missing_file_are_honoured() -> None:
    a1, a2 = asset("a1"), asset("a2")
    files = {
        a1.sha256: FilePresence(quarantined_until=T0 + timedelta(hours=1)),
        a2.sha256: FilePresence(present=False),
    }
    cat = Catalogue(
        assets={"a1": a1, "a2": a2},
        playlists={"p1": playlist("p1", "a1", "a2")},
        schedules=(schedule("s1", "p1"),),
        files=files,
    )
    assert timeline(cat, T0, T0 + timedelta(hours=2)) == [
        Segment(T0, T0 + timedelta(hours=1), Tier.JINGLE, None, None),
        Segment(T0 + timedelta(hours=1), T0 + timedelta(hours=2), Tier.PLAYLIST, "s1", "p1"),
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0, T0, "must be after start"),
        (T0, T0 - timedelta(seconds=1), "must be after start"),
        (T0.replace(tzinfo=None), T0 + timedelta(hours=1), "start must be timezone-aware"),
        (T0, T0 + timedelta(days=63), "longer than 62 days"),
    ],
)
def test_bad_ranges_are_refused(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        timeline(Catalogue(), start, end)


# --- the property -----------------------------------------------------------

BASES = [
    datetime(2026, 3, 27, 0, 0, tzinfo=UTC),  # Europe spring forward on the 29th
    datetime(2026, 10, 23, 0, 0, tzinfo=UTC),  # Europe fall back on the 25th
    datetime(2026, 3, 6, 0, 0, tzinfo=UTC),  # America/New_York spring forward on the 8th
    datetime(2026, 6, 15, 0, 0, tzinfo=UTC),
]
ZONES = ["UTC", "Europe/Paris", "America/New_York"]
MINUTES = [0, 60, 120, 150, 180, 420, 600, 1020, 1320, 1439, 1440]


@st.composite
def catalogues(draw: st.DrawFn) -> tuple[Catalogue, datetime, datetime]:
    base = draw(st.sampled_from(BASES))
    instant = st.builds(
        lambda minutes: base + timedelta(minutes=minutes), st.integers(-1440, 8 * 1440)
    )
    maybe = st.one_of(st.none(), st.none(), st.none(), instant)
    assets = [
        asset(
            f"a{i}",
            emergency=draw(st.sampled_from([False, False, False, True])),
            valid_from=draw(maybe),
            valid_until=draw(maybe),
        )
        for i in range(draw(st.integers(1, 5)))
    ]
    ids = [a.id for a in assets] * 3 + ["ghost"]
    playlists = [
        playlist(f"p{i}", *draw(st.lists(st.sampled_from(ids), max_size=3))) for i in range(3)
    ]
    schedules = [
        schedule(
            f"s{i}",
            draw(st.sampled_from(["p0", "p1", "p2", "p0", "p1", "missing"])),
            priority=draw(st.integers(0, 2)),
            target=draw(st.sampled_from(list(TargetKind))),
            days=draw(st.frozensets(st.integers(1, 7), min_size=1)),
            start=draw(st.sampled_from(MINUTES[:-1])),
            end=draw(st.sampled_from(MINUTES)),
            valid_from=draw(maybe),
            valid_until=draw(maybe),
            created_at=T0 - timedelta(days=draw(st.integers(0, 3))),
        )
        for i in range(draw(st.integers(1, 5)))
    ]
    files = {
        sha(a.id): FilePresence(
            present=draw(st.sampled_from([True, True, True, False])),
            quarantined_until=draw(maybe),
        )
        for a in assets
    }
    cat = Catalogue(
        timezone=draw(st.sampled_from(ZONES)),
        assets={a.id: a for a in assets},
        playlists={p.id: p for p in playlists},
        schedules=tuple(schedules),
        files=files,
    )
    start = base + timedelta(
        minutes=draw(st.integers(0, 1440)), microseconds=draw(st.sampled_from([0, 1, 999_999]))
    )
    # Mostly long ranges (a day to a week, as the panel asks), sometimes short.
    minutes = st.sampled_from([1440, 3 * 1440, 7 * 1440]) | st.integers(1, 8 * 1440)
    end = start + timedelta(minutes=draw(minutes))
    return cat, start, end


@settings(max_examples=150, deadline=None)
@given(world=catalogues(), probes=st.lists(st.floats(0, 1, exclude_max=True), max_size=20))
def test_segments_cover_the_range_and_hold_the_rules_decision(
    world: tuple[Catalogue, datetime, datetime], probes: list[float]
) -> None:
    cat, start, end = world
    segments = timeline(cat, start, end)
    # About 30% of examples have several segments (measured with
    # --hypothesis-show-statistics), most tiers mixed.
    event("segments: " + ("1" if len(segments) == 1 else "2-4" if len(segments) < 5 else "5+"))
    # Contiguous and covering: the first starts at start, each ends where the next starts.
    assert segments[0].start == start
    assert segments[-1].end == end
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start
        assert key(before) != key(after)  # merged when equal
    assert all(s.start < s.end for s in segments)
    # The rules' decision at each segment's first and last microsecond, and at
    # random instants inside.
    starts = [s.start for s in segments]
    span_us = (end - start) // timedelta(microseconds=1)
    instants = [start + timedelta(microseconds=int(p * span_us)) for p in probes]
    for segment in segments:
        instants += [segment.start, segment.end - timedelta(microseconds=1)]
    for at in instants:
        segment = segments[bisect.bisect_right(starts, at) - 1]
        assert segment.start <= at < segment.end
        assert key(decide(cat, at)) == key(segment), at
