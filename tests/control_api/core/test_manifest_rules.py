"""Pure cursor and delta-plan rules."""

from __future__ import annotations

from control_api.core.manifest import View, make_cursor, parse_cursor, plan_delta, scope_hash


def test_cursor_round_trip_and_rejections() -> None:
    scope = scope_hash("UTC", ["b", "a"])
    assert scope == scope_hash("UTC", ["a", "b"])
    assert scope != scope_hash("Europe/Paris", ["a", "b"])
    cursor = make_cursor(5, scope)
    assert parse_cursor(cursor, scope, current=7, horizon=0) == 5
    assert parse_cursor(f'"{cursor}"', scope, current=7, horizon=0) == 5
    assert parse_cursor(cursor, scope, current=4, horizon=0) is None  # from the future
    assert parse_cursor(cursor, scope, current=7, horizon=6) is None  # pruned
    assert parse_cursor(cursor, "other", current=7, horizon=0) is None
    for bad in (None, "", "x", "5", "-5." + scope, "5.5." + scope, "9" * 30 + "." + scope):
        assert parse_cursor(bad, scope, current=7, horizon=0) is None


def test_delta_closure_and_tombstones() -> None:
    view = View(
        schedule_playlists={"s1": "p1"},
        playlist_assets={"p1": ("a1", "a2")},
        emergency_assets=frozenset({"e1"}),
    )
    plan = plan_delta(
        [
            ("schedule", "s1"),
            ("asset", "gone"),
            ("playlist", "p9"),
            ("asset", "e1"),
            ("device", "d1"),
        ],
        view,
    )
    assert plan.upsert == {"schedule": {"s1"}, "playlist": {"p1"}, "asset": {"a1", "a2", "e1"}}
    assert plan.deleted == {"schedule": set(), "playlist": {"p9"}, "asset": {"gone"}}
