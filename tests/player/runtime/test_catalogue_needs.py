"""catalogue_needs: pure, on a small catalogue at fixed instants (Europe/Paris, UTC+1 in March)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lomuz_rules.model import Asset, MediaType, Playlist, PlaylistItem, Schedule, TargetKind
from lomuz_rules.schedule import Catalogue
from player.core.downloads import catalogue_needs
from tests.player.runtime.helpers import T0

PARIS = "Europe/Paris"  # T0 = Monday 12:00 UTC = 13:00 in Paris
ALL = frozenset(range(1, 8))


def asset(name: str, *, emergency: bool = False, size_bytes: int = 100) -> Asset:
    digest = (name.encode().hex() * 64)[:64]
    return Asset(
        name,
        digest,
        size_bytes,
        MediaType.AUDIO,
        "audio/wav",
        name,
        None,
        None,
        None,
        emergency,
        f"/v1/media/{digest}",
    )


def playlist(pid: str, *asset_ids: str) -> Playlist:
    return Playlist(pid, pid, tuple(PlaylistItem(a) for a in asset_ids), 1)


def schedule(
    sid: str,
    pid: str,
    start_h: int,
    end_h: int,
    *,
    days: frozenset[int] = ALL,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Schedule:
    return Schedule(
        sid, pid, TargetKind.ALL, 0, days, start_h * 60, end_h * 60, valid_from, valid_until, T0, 1
    )


ASSETS = [asset(n) for n in ("now", "evening", "tuesday", "old", "shared", "future", "night")]
ASSETS.append(asset("sos", emergency=True))
PLAYLISTS = [
    playlist("p-now", "now", "shared"),
    playlist("p-evening", "evening"),
    playlist("p-tuesday", "tuesday"),
    playlist("p-old", "old", "shared"),
    playlist("p-future", "future"),
    playlist("p-night", "night"),
]
SCHEDULES = (
    schedule("s-now", "p-now", 12, 14),
    schedule("s-evening", "p-evening", 18, 19),
    schedule("s-tuesday", "p-tuesday", 9, 10, days=frozenset({2})),
    schedule("s-old", "p-old", 0, 24, valid_until=T0 - timedelta(hours=1)),
    schedule("s-future", "p-future", 0, 24, valid_from=T0 + timedelta(days=2)),
    schedule("s-night", "p-night", 22, 2),  # crosses midnight
)
CATALOGUE = Catalogue(
    timezone=PARIS,
    assets={a.id: a for a in ASSETS},
    playlists={p.id: p for p in PLAYLISTS},
    schedules=SCHEDULES,
    files={},
    rotation={},
    last_asset_id=None,
)
SHA = {a.id: a.sha256 for a in ASSETS}


def test_sets_at_noon_on_monday() -> None:
    needs = catalogue_needs(CATALOGUE, T0)
    assert needs.active_playlist_ids == {"p-now"}
    assert needs.next_start_by_playlist == {
        "p-evening": datetime(2026, 3, 2, 17, 0, tzinfo=UTC),
        "p-tuesday": datetime(2026, 3, 3, 8, 0, tzinfo=UTC),
        "p-future": T0 + timedelta(days=2),
        "p-night": datetime(2026, 3, 2, 21, 0, tzinfo=UTC),
    }
    assert needs.scheduled_sha256s == {SHA[n] for n in SHA if n != "old"}
    by_sha = {n.sha256: n for n in needs.needed}
    assert set(by_sha) == set(SHA.values())  # every referenced file, "old" included
    assert by_sha[SHA["shared"]].playlist_ids == {"p-now", "p-old"}
    assert by_sha[SHA["sos"]].emergency and by_sha[SHA["sos"]].playlist_ids == frozenset()
    assert by_sha[SHA["old"]].playlist_ids == {"p-old"}


def test_after_midnight_the_night_window_of_the_previous_day_is_active() -> None:
    at = datetime(2026, 3, 3, 0, 30, tzinfo=UTC)  # Tuesday 01:30 in Paris
    needs = catalogue_needs(CATALOGUE, at)
    assert needs.active_playlist_ids == {"p-night"}
    assert needs.next_start_by_playlist["p-now"] == datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
    assert needs.next_start_by_playlist["p-tuesday"] == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_once_valid_the_future_schedule_is_active_and_expiry_drops_the_rest() -> None:
    at = T0 + timedelta(days=2, hours=1)  # Wednesday 14:00 in Paris
    needs = catalogue_needs(CATALOGUE, at)
    assert needs.active_playlist_ids == {"p-future"}
    assert "p-tuesday" in needs.next_start_by_playlist  # next Tuesday, within the horizon
    assert SHA["old"] not in needs.scheduled_sha256s


def test_an_empty_catalogue_needs_nothing() -> None:
    empty = Catalogue(PARIS, {}, {}, (), {}, {}, None)
    needs = catalogue_needs(empty, T0)
    assert (
        needs.needed,
        needs.active_playlist_ids,
        dict(needs.next_start_by_playlist),
        needs.scheduled_sha256s,
    ) == ((), frozenset(), {}, frozenset())
