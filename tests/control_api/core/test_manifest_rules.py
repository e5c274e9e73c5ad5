"""Pure cursor and delta-plan rules."""

from __future__ import annotations

from control_api.core.manifest import (
    EMERGENCY_ROOT,
    KINDS,
    NOT_A_ROOT,
    View,
    device_roots,
    make_cursor,
    parse_cursor,
    plan_delta,
    schedule_root,
    scope_hash,
)


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
    roots = device_roots("d1", ["north"])
    plan = plan_delta(
        {
            ("schedule", "s1"): NOT_A_ROOT,
            ("schedule", "gone"): schedule_root("group", "north"),
            ("asset", "unflagged"): EMERGENCY_ROOT,
            ("asset", "e1"): NOT_A_ROOT,
            ("device", "d1"): NOT_A_ROOT,
        },
        view,
        roots,
    )
    assert plan is not None
    assert plan.upsert == {
        "schedule": {"s1"},
        "playlist": {"p1"},
        "asset": {"a1", "a2", "e1"},
        "override": set(),
    }
    assert plan.deleted == {
        "schedule": {"gone"},
        "playlist": set(),
        "asset": {"unflagged"},
        "override": set(),
    }


def test_a_delta_never_names_what_the_device_never_held() -> None:
    view = View(schedule_playlists={}, playlist_assets={}, emergency_assets=frozenset())
    plan = plan_delta(
        {
            ("asset", "new-upload"): NOT_A_ROOT,
            ("playlist", "p9"): NOT_A_ROOT,
            ("schedule", "new-for-another"): NOT_A_ROOT,
            ("schedule", "was-another-device"): schedule_root("device", "d2"),
            ("schedule", "was-another-group"): schedule_root("group", "south"),
        },
        view,
        device_roots("d1", ["north"]),
    )
    assert plan is not None
    assert plan.deleted == {k: set() for k in KINDS}
    assert plan.upsert == {k: set() for k in KINDS}


def test_an_unknown_state_at_the_cursor_asks_for_a_full_snapshot() -> None:
    view = View(schedule_playlists={"s1": "p1"}, playlist_assets={}, emergency_assets=frozenset())
    roots = device_roots("d1", [])
    # Rows logged before root_before existed: fine while the object is in view...
    assert plan_delta({("schedule", "s1"): None}, view, roots) is not None
    # ...but out of view the device may or may not hold it.
    assert plan_delta({("schedule", "s2"): None}, view, roots) is None
    assert plan_delta({("asset", "a9"): None}, view, roots) is None
