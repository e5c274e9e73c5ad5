"""Pure manifest rules: cursors, the device's view, and what a delta must contain.

Invariants (the player relies on them; property-tested against full snapshots):
- A cursor is "<revision>.<scope>" where scope hashes the device's timezone and
  groups. A malformed cursor, a scope that changed, a revision ahead of the
  tenant, or one older than the change log's horizon → full snapshot.
- A delta upserts every changed object that is in the view now, plus the
  playlists of upserted schedules and the assets of upserted playlists (closure:
  the player never holds a dangling reference).
- Overrides are roots exactly as schedules are (their target, their playlist):
  "schedule" below stands for both kinds.
- ``deleted`` names exactly the roots the device held at the cursor that are not
  in the view now: schedules that targeted it, and emergency assets. The change
  log keeps, per change, what made the object a root just before it (its
  ``root_before``); the first change after the cursor tells the state at the
  cursor. Because the scope hashes the groups, equal scopes mean the device had
  the same groups then as now, so "targeted it then" is decided with today's
  groups. A delta therefore never names an object the device never saw (a new
  upload, another device's schedule).
- Everything else that left the view (playlists, non-emergency assets) is not
  tombstoned: the player garbage-collects playlists no schedule uses and
  non-emergency assets no playlist uses after applying any manifest.
- A change logged before ``root_before`` existed has it unknown (None): when
  such an object is out of view now, the delta cannot be planned → full snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

KINDS = ("asset", "playlist", "schedule", "override")

# ``root_before`` values: what made an object a root of some device's view just
# before a change ("all" | "device:<id>" | "group:<name>" for a schedule).
NOT_A_ROOT = ""  # did not exist, a playlist, a device, a non-emergency asset
EMERGENCY_ROOT = "emergency"


def schedule_root(target_kind: str, target_value: str) -> str:
    return "all" if target_kind == "all" else f"{target_kind}:{target_value}"


def asset_root(emergency: bool) -> str:
    return EMERGENCY_ROOT if emergency else NOT_A_ROOT


def scope_roots(groups: Iterable[str]) -> frozenset[str]:
    """Every ``root_before`` that puts an object in the view of any device in ``groups``."""
    return frozenset({EMERGENCY_ROOT, "all", *(f"group:{g}" for g in groups)})


def device_roots(device_id: str, groups: Iterable[str]) -> frozenset[str]:
    """Every ``root_before`` that puts an object in this device's view."""
    return scope_roots(groups) | {device_root(device_id)}


def device_root(device_id: str) -> str:
    return schedule_root("device", device_id)


def device_specific(targeted: Iterable[str], roots_before: Iterable[str | None]) -> frozenset[str]:
    """Devices whose manifest may differ from their scope's: those a schedule or override
    targets by id now, and those an object changed since the cursor was targeted at
    (their delta deletes it). For every other device of a scope, the view is the scope's
    and :func:`plan_delta` with :func:`scope_roots` gives its plan."""
    prefix = device_root("")
    before = {r.removeprefix(prefix) for r in roots_before if r and r.startswith(prefix)}
    return frozenset(targeted) | before


def scope_hash(timezone: str, groups: Iterable[str]) -> str:
    text = timezone + "\n" + "\n".join(sorted(groups))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_cursor(revision: int, scope: str) -> str:
    return f"{revision}.{scope}"


def parse_cursor(cursor: str | None, scope: str, *, current: int, horizon: int) -> int | None:
    """The revision a delta may start from, or None when a full snapshot is needed."""
    if not cursor:
        return None
    rev_text, sep, cursor_scope = cursor.strip().strip('"').partition(".")
    if not sep or cursor_scope != scope or not rev_text.isdigit() or len(rev_text) > 18:
        return None
    revision = int(rev_text)
    if revision > current or revision < horizon:
        return None
    return revision


@dataclass(frozen=True)
class View:
    """Ids a device sees now: schedule → playlist, override → playlist, playlist →
    assets, emergency assets."""

    schedule_playlists: Mapping[str, str]
    playlist_assets: Mapping[str, tuple[str, ...]]
    emergency_assets: frozenset[str]
    override_playlists: Mapping[str, str] = field(default_factory=dict)

    def playlist_ids(self) -> set[str]:
        return set(self.schedule_playlists.values()) | set(self.override_playlists.values())

    def asset_ids(self) -> set[str]:
        ids = set(self.emergency_assets)
        for playlist_id in self.playlist_ids():
            ids.update(self.playlist_assets.get(playlist_id, ()))
        return ids


@dataclass
class Plan:
    """Ids to send in full and ids to list in ``deleted``, per kind."""

    upsert: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    deleted: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})


def plan_full(view: View) -> Plan:
    plan = Plan()
    plan.upsert["schedule"] = set(view.schedule_playlists)
    plan.upsert["override"] = set(view.override_playlists)
    plan.upsert["playlist"] = view.playlist_ids()
    plan.upsert["asset"] = view.asset_ids()
    return plan


def plan_delta(
    changed: Mapping[tuple[str, str], str | None], view: View, roots: frozenset[str]
) -> Plan | None:
    """The delta from the change log since the cursor, or None when only a full snapshot is safe.

    ``changed`` maps each (kind, id) changed since the cursor to its ``root_before`` at
    the cursor; ``roots`` is :func:`device_roots` of the device (same scope as the cursor).
    """
    in_view = {
        "schedule": set(view.schedule_playlists),
        "override": set(view.override_playlists),
        "playlist": view.playlist_ids(),
        "asset": view.asset_ids(),
    }
    plan = Plan()
    for (kind, object_id), root_before in changed.items():
        if kind not in in_view:
            continue
        if object_id in in_view[kind]:
            plan.upsert[kind].add(object_id)
        elif kind == "playlist":
            continue  # never a root: dropped by the player's garbage collection
        elif root_before is None:
            return None
        elif root_before in roots:
            plan.deleted[kind].add(object_id)
    for schedule_id in plan.upsert["schedule"]:
        plan.upsert["playlist"].add(view.schedule_playlists[schedule_id])
    for override_id in plan.upsert["override"]:
        plan.upsert["playlist"].add(view.override_playlists[override_id])
    for playlist_id in plan.upsert["playlist"]:
        plan.upsert["asset"].update(view.playlist_assets.get(playlist_id, ()))
    return plan
