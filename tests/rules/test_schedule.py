"""The schedule engine's pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lomuz_rules.model import MediaType, PlaylistItem, TargetKind, Tier
from lomuz_rules.schedule import (
    asset_expired,
    daypart_contains,
    decide,
    pick_emergency,
    play_duration_ms,
)
from player.core.files import FileState
from tests.player.core.builders import T0, asset, catalogue, playlist, schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
US = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def first(candidates: object) -> str:
    assert isinstance(candidates, list | tuple)
    return str(candidates[0])


class TestDayparts:
    def test_overnight_window_belongs_to_its_start_day(self) -> None:
        monday_night = schedule("s", "p", days={1}, start=22 * 60, end=2 * 60)
        assert daypart_contains(monday_night, utc(2026, 3, 2, 23, 0), ZoneInfo("UTC"))
        assert daypart_contains(monday_night, utc(2026, 3, 3, 1, 59), ZoneInfo("UTC"))
        assert not daypart_contains(monday_night, utc(2026, 3, 3, 2, 0), ZoneInfo("UTC"))
        assert not daypart_contains(monday_night, utc(2026, 3, 3, 23, 0), ZoneInfo("UTC"))
        # Monday 01:00 is the tail of Sunday's window, and Sunday is not listed.
        assert not daypart_contains(monday_night, utc(2026, 3, 2, 1, 0), ZoneInfo("UTC"))

    def test_sunday_night_wraps_to_monday(self) -> None:
        sunday_night = schedule("s", "p", days={7}, start=23 * 60, end=60)
        assert daypart_contains(sunday_night, utc(2026, 3, 2, 0, 30), ZoneInfo("UTC"))

    def test_end_24_00_includes_the_last_minute(self) -> None:
        evening = schedule("s", "p", days={1}, start=18 * 60, end=1440)
        assert daypart_contains(evening, utc(2026, 3, 2, 23, 59, 59), ZoneInfo("UTC"))
        assert not daypart_contains(evening, utc(2026, 3, 3, 0, 0), ZoneInfo("UTC"))

    def test_local_time_zone_is_used(self) -> None:
        morning = schedule("s", "p", start=9 * 60, end=10 * 60)
        # 08:30 UTC is 09:30 in Berlin (CET, +1) in March before DST.
        assert daypart_contains(morning, utc(2026, 3, 2, 8, 30), BERLIN)
        assert not daypart_contains(morning, utc(2026, 3, 2, 8, 30), ZoneInfo("UTC"))

    def test_skipped_local_time_never_matches(self) -> None:
        # Berlin 2026-03-29: 02:00 local jumps to 03:00 at 01:00Z.
        gap = schedule("s", "p", start=2 * 60, end=3 * 60)
        instants = [utc(2026, 3, 29, 0, 0) + timedelta(minutes=m) for m in range(0, 121, 5)]
        assert not any(daypart_contains(gap, at, BERLIN) for at in instants)

    def test_window_starting_in_the_gap_opens_when_the_gap_ends(self) -> None:
        half = schedule("s", "p", start=2 * 60 + 30, end=3 * 60 + 30)
        assert not daypart_contains(half, utc(2026, 3, 29, 0, 59, 59), BERLIN)
        assert daypart_contains(half, utc(2026, 3, 29, 1, 0), BERLIN)  # 03:00 CEST
        assert not daypart_contains(half, utc(2026, 3, 29, 1, 30), BERLIN)  # 03:30 CEST
        decision = decide(
            catalogue([asset("a")], [playlist("p", "a")], [half], timezone="Europe/Berlin"),
            utc(2026, 3, 29, 0, 30),
        )
        assert decision.tier is Tier.JINGLE
        assert decision.next_boundary_at is not None
        assert decision.next_boundary_at <= utc(2026, 3, 29, 1, 0)

    def test_repeated_local_time_matches_both_times(self) -> None:
        # Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z.
        repeated = schedule("s", "p", start=2 * 60, end=2 * 60 + 30)
        assert daypart_contains(repeated, utc(2026, 10, 25, 0, 15), BERLIN)  # 02:15 CEST
        assert not daypart_contains(repeated, utc(2026, 10, 25, 0, 45), BERLIN)  # 02:45 CEST
        assert daypart_contains(repeated, utc(2026, 10, 25, 1, 15), BERLIN)  # 02:15 CET
        assert not daypart_contains(repeated, utc(2026, 10, 25, 1, 30), BERLIN)

    def test_new_york_spring_forward(self) -> None:
        # 2026-03-08 02:00 EST jumps to 03:00 EDT at 07:00Z.
        two_am = schedule("s", "p", start=2 * 60, end=2 * 60 + 59)
        day = [utc(2026, 3, 8, 5, 0) + timedelta(minutes=m) for m in range(0, 240, 1)]
        assert not any(daypart_contains(two_am, at, NEW_YORK) for at in day)
        three_am = schedule("s", "p", start=3 * 60, end=4 * 60)
        assert daypart_contains(three_am, utc(2026, 3, 8, 7, 0), NEW_YORK)

    def test_empty_window_never_matches(self) -> None:
        empty = schedule("s", "p", start=600, end=600)
        assert not daypart_contains(empty, utc(2026, 3, 2, 10, 0), ZoneInfo("UTC"))


class TestValidity:
    def test_asset_expires_exactly_at_valid_until(self) -> None:
        a = asset("a", valid_until=T0)
        cat = catalogue([a], [playlist("p", "a")], [schedule("s", "p")])
        assert decide(cat, T0 - US).asset_id == "a"
        late = decide(cat, T0)
        assert late.tier is Tier.JINGLE
        assert "item 0 asset a: expired" in late.reasons
        assert asset_expired(a, T0)
        assert not asset_expired(a, T0 - US)

    def test_asset_valid_from_is_inclusive(self) -> None:
        cat = catalogue([asset("a", valid_from=T0)], [playlist("p", "a")], [schedule("s", "p")])
        assert decide(cat, T0).asset_id == "a"
        before = decide(cat, T0 - US)
        assert before.tier is Tier.JINGLE
        assert before.next_boundary_at == T0

    def test_schedule_validity_window(self) -> None:
        cat = catalogue(
            [asset("a")],
            [playlist("p", "a")],
            [schedule("s", "p", valid_from=T0, valid_until=T0 + timedelta(hours=1))],
        )
        assert decide(cat, T0).schedule_id == "s"
        expired = decide(cat, T0 + timedelta(hours=1))
        assert expired.schedule_id is None
        assert any(r.startswith("schedule s: expired at") for r in expired.reasons)


class TestPrecedence:
    def test_higher_priority_wins_over_newer(self) -> None:
        cat = catalogue(
            [asset("a"), asset("b")],
            [playlist("pa", "a"), playlist("pb", "b")],
            [
                schedule("old", "pa", priority=5, created_at=T0 - timedelta(days=9)),
                schedule("new", "pb", priority=1, created_at=T0),
            ],
        )
        assert decide(cat, T0).schedule_id == "old"

    def test_equal_priority_newest_wins(self) -> None:
        cat = catalogue(
            [asset("a"), asset("b")],
            [playlist("pa", "a"), playlist("pb", "b")],
            [
                schedule("old", "pa", created_at=T0 - timedelta(days=1)),
                schedule("new", "pb", created_at=T0),
            ],
        )
        assert decide(cat, T0).schedule_id == "new"

    def test_specificity_device_over_group_over_all(self) -> None:
        scheds = [
            schedule("all", "pa", target=TargetKind.ALL, created_at=T0),
            schedule("group", "pa", target=TargetKind.GROUP, created_at=T0 - timedelta(days=1)),
            schedule("dev", "pa", target=TargetKind.DEVICE, created_at=T0 - timedelta(days=2)),
        ]
        cat = catalogue([asset("a")], [playlist("pa", "a")], scheds)
        assert decide(cat, T0).schedule_id == "dev"
        cat = catalogue([asset("a")], [playlist("pa", "a")], scheds[:2])
        assert decide(cat, T0).schedule_id == "group"

    def test_full_tie_is_broken_by_id(self) -> None:
        cat = catalogue(
            [asset("a")], [playlist("p", "a")], [schedule("s2", "p"), schedule("s1", "p")]
        )
        assert decide(cat, T0).schedule_id == "s1"

    def test_empty_playlist_falls_through_to_next_schedule(self) -> None:
        cat = catalogue(
            [asset("a")],
            [playlist("empty"), playlist("p", "a")],
            [schedule("top", "empty", priority=9), schedule("low", "p")],
        )
        decision = decide(cat, T0)
        assert decision.schedule_id == "low"
        assert "schedule top: playlist empty is empty" in decision.reasons

    def test_not_downloaded_and_quarantined_items_are_skipped(self) -> None:
        a, b, c = asset("a"), asset("b"), asset("c")
        files = {
            a.sha256: FileState(a.sha256, 1, present=False),
            b.sha256: FileState(
                b.sha256,
                1,
                present=True,
                quarantined_until=T0 + timedelta(minutes=5),
                quarantine_reason="decode error",
            ),
            c.sha256: FileState(c.sha256, 1, present=True),
        }
        cat = catalogue(
            [a, b, c], [playlist("p", "a", "b", "c")], [schedule("s", "p")], files=files
        )
        decision = decide(cat, T0)
        assert decision.asset_id == "c"
        assert decision.next_boundary_at == T0 + timedelta(minutes=5)
        later = decide(cat, T0 + timedelta(minutes=5))
        assert later.asset_id == "b"
        only_a = catalogue([a], [playlist("p", "a")], [schedule("s", "p")], files=files)
        assert "item 0 asset a: not downloaded" in decide(only_a, T0).reasons


class TestRotation:
    def test_round_robin_by_position_with_duplicate_assets(self) -> None:
        assets = [asset("a"), asset("b")]
        pl = playlist("p", "a", "b", "a")
        rotation: dict[tuple[str, int, str], datetime] = {}
        positions = []
        for n in range(6):
            at = T0 + timedelta(minutes=n)
            decision = decide(catalogue(assets, [pl], [schedule("s", "p")], rotation=rotation), at)
            assert decision.playlist_position is not None
            positions.append(decision.playlist_position)
            rotation[("p", decision.playlist_position, str(decision.asset_id))] = at
        assert positions == [0, 1, 2, 0, 1, 2]

    def test_history_of_a_replaced_item_does_not_count(self) -> None:
        rotation = {("p", 0, "old"): T0 - timedelta(minutes=1)}
        cat = catalogue(
            [asset("a"), asset("b")],
            [playlist("p", "a", "b")],
            [schedule("s", "p")],
            rotation=rotation,
        )
        assert decide(cat, T0).playlist_position == 0


class TestFallbacks:
    def test_everything_expired_goes_to_emergency_then_jingle(self) -> None:
        expired = asset("a", valid_until=T0)
        emergency = asset("e", emergency=True, valid_until=T0 + timedelta(hours=1))
        cat = catalogue([expired, emergency], [playlist("p", "a")], [schedule("s", "p")])
        decision = decide(cat, T0, choice=first)
        assert (decision.tier, decision.asset_id) == (Tier.EMERGENCY, "e")
        assert decision.schedule_id is None
        later = decide(cat, T0 + timedelta(hours=1))
        assert later.tier is Tier.JINGLE
        assert later.asset_id is None

    def test_silence_fallback(self) -> None:
        assert decide(catalogue(), T0, fallback=Tier.SILENCE).tier is Tier.SILENCE

    def test_fallback_must_be_jingle_or_silence(self) -> None:
        with pytest.raises(ValueError, match="fallback"):
            decide(catalogue(), T0, fallback=Tier.PLAYLIST)

    def test_naive_instant_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            decide(catalogue(), datetime(2026, 1, 1))

    def test_no_immediate_emergency_repeat(self) -> None:
        emergencies = [asset("e1", emergency=True), asset("e2", emergency=True)]
        cat = catalogue(emergencies, last_asset_id="e1")
        for pick in (first, lambda c: c[-1]):
            assert decide(cat, T0, choice=pick).asset_id == "e2"
        alone = catalogue(emergencies[:1], last_asset_id="e1")
        assert decide(alone, T0, choice=first).asset_id == "e1"

    def test_pick_emergency_rejects_a_choice_outside_the_candidates(self) -> None:
        with pytest.raises(ValueError, match="not one of the candidates"):
            pick_emergency(["a", "b"], "a", lambda c: "a")


class TestDurationsAndBoundaries:
    def test_durations(self) -> None:
        image = asset("img", media_type=MediaType.IMAGE)
        image_with_own = asset("img2", media_type=MediaType.IMAGE, duration_ms=4000)
        song = asset("song", duration_ms=180_000)
        pl = playlist("p", "img", "img2", "song", "song", durations={3: 30_000})
        rotation: dict[tuple[str, int, str], datetime] = {}
        got = []
        for n in range(4):
            at = T0 + timedelta(minutes=n)
            cat = catalogue(
                [image, image_with_own, song], [pl], [schedule("s", "p")], rotation=rotation
            )
            decision = decide(cat, at)
            got.append(decision.play_duration_ms)
            assert decision.playlist_position is not None
            rotation[("p", decision.playlist_position, str(decision.asset_id))] = at
        assert got == [10_000, 4000, None, 30_000]

    def test_next_boundary_is_the_next_daypart_edge(self) -> None:
        cat = catalogue(
            [asset("a")], [playlist("p", "a")], [schedule("s", "p", start=9 * 60, end=17 * 60)]
        )
        at = utc(2026, 3, 2, 8, 0)
        assert decide(cat, at).next_boundary_at == utc(2026, 3, 2, 9, 0)
        assert decide(cat, utc(2026, 3, 2, 9, 0)).next_boundary_at == utc(2026, 3, 2, 17, 0)

    def test_next_boundary_in_local_time(self) -> None:
        cat = catalogue(
            [asset("a")],
            [playlist("p", "a")],
            [schedule("s", "p", days={1}, start=9 * 60, end=17 * 60)],
            timezone="America/New_York",
        )
        # Monday 2026-03-02 06:00Z is 01:00 EST; 09:00 EST is 14:00Z.
        assert decide(cat, utc(2026, 3, 2, 6, 0)).next_boundary_at == utc(2026, 3, 2, 14, 0)

    def test_no_boundary_without_time_dependence(self) -> None:
        assert decide(catalogue([asset("e", emergency=True)]), T0).next_boundary_at is None


@pytest.mark.parametrize(
    ("item_ms", "asset_ms", "media_type", "expected"),
    [
        (1, None, MediaType.AUDIO, 1000),
        (0, None, MediaType.VIDEO, 1000),
        (999, None, MediaType.AUDIO, 1000),
        (1500, None, MediaType.AUDIO, 1500),
        (None, 1, MediaType.IMAGE, 1000),
        (None, None, MediaType.IMAGE, 10_000),
        (None, 1, MediaType.AUDIO, None),
    ],
)
def test_every_cap_is_at_least_a_second(
    item_ms: int | None, asset_ms: int | None, media_type: MediaType, expected: int | None
) -> None:
    a = asset("a", media_type=media_type, duration_ms=asset_ms)
    assert play_duration_ms(a, PlaylistItem("a", item_ms)) == expected
