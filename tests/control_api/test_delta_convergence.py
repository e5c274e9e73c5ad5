"""Deltas against PROTOCOL.md "Manifest", checked from outside the API.

A real app (SQLite, and PostgreSQL when LOMUZ_TEST_POSTGRES_URL is set), four
enrolled devices (in north, north, south and no group: the first two share a scope,
so one shared plan serves both until one is targeted by id or regrouped), and a
random sequence of single director requests (uploads, emergency toggles, playlists,
schedules aimed at a device, a group or all, retargeting, overrides made and ended,
deletions, regrouping and time zones). After each
request every device either polls with its cursor or skips for a while. The
device applies what it gets with :class:`ReferenceClient`, which does exactly
what the contract says (a full replaces; a delta upserts what is listed, removes
what ``deleted`` names, then keeps only the closure of its schedules) and, in
the same step, through the real player (``player.wire`` and ``PlayerStore``).

The expected view comes from a model built from the director API's own lists
(:func:`model_views`), not from the manifest code. At every poll:

- the full manifest fetched at that moment holds exactly the model's view, and
  the client holds exactly that full manifest (ids and content), as does the
  player's store;
- ``deleted`` never names an object that was never in that device's view (the
  model's views after every request, unioned) nor one the client never held,
  and never one that is in the view now;
- a device whose view and device block no request touched since its cursor gets
  a 304 or an empty delta; one whose scope (groups, time zone) differs from its
  cursor's gets a full snapshot, and a full comes only then (or, with a short
  change log, when the cursor fell off it).

LOMUZ_DELTA_EXAMPLES sets the example budget of both property tests (default 10 and 4);
``--hypothesis-show-statistics`` counts the polls by outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import update

from control_api.core.validation import format_instant
from control_api.store.models import Change
from player.store.repository import PlayerStore
from player.wire import decode_manifest
from tests.control_api.conftest import Api, make_api
from tests.control_api.media_samples import png

KINDS = ("assets", "playlists", "schedules", "overrides")
ROOTS = ("schedules", "overrides")  # what keeps a playlist in the view
Ids = dict[str, set[str]]
GROUPS = ("north", "south")
DEVICE_GROUPS = (["north"], ["north"], ["south"], [])
EXAMPLES = int(os.environ.get("LOMUZ_DELTA_EXAMPLES", "0")) or None


def _empty() -> Ids:
    return {k: set() for k in KINDS}


class ReferenceClient:
    """A device that applies manifests by the PROTOCOL rule and nothing more."""

    def __init__(self) -> None:
        self.cursor: str | None = None
        self.device: dict[str, Any] | None = None
        self.state: dict[str, dict[str, Any]] = {k: {} for k in KINDS}

    def apply(self, manifest: dict[str, Any]) -> None:
        if manifest["full"]:
            self.state = {k: {o["id"]: o for o in manifest[k]} for k in KINDS}
        else:
            for kind in KINDS:
                for obj in manifest[kind]:
                    self.state[kind][obj["id"]] = obj
                for object_id in manifest["deleted"][kind]:
                    self.state[kind].pop(object_id, None)
            used = {r["playlist_id"] for k in ROOTS for r in self.state[k].values()}
            self.state["playlists"] = {
                k: p for k, p in self.state["playlists"].items() if k in used
            }
            items = {i["asset_id"] for p in self.state["playlists"].values() for i in p["items"]}
            self.state["assets"] = {
                k: a for k, a in self.state["assets"].items() if k in items or a["emergency"]
            }
        # "refers to an asset or playlist it does not contain (after applying it)"
        for root in (r for k in ROOTS for r in self.state[k].values()):
            assert root["playlist_id"] in self.state["playlists"], root
        for playlist in self.state["playlists"].values():
            for item in playlist["items"]:
                assert item["asset_id"] in self.state["assets"], playlist
        self.device = manifest["device"]
        self.cursor = manifest["cursor"]

    def ids(self) -> Ids:
        return {k: set(v) for k, v in self.state.items()}


@dataclass
class Device:
    device_id: str
    token: str
    client: ReferenceClient
    store: PlayerStore
    ever_in_view: Ids = field(default_factory=_empty)
    ever_held: Ids = field(default_factory=_empty)
    touched: bool = True  # its view or device block changed since its cursor
    scope_touched: bool = True
    scope_at_cursor: tuple[str, tuple[str, ...]] | None = None
    view_at_cursor: str = ""


def _items(api: Api, admin: str, path: str) -> list[dict[str, Any]]:
    reply = api.call("GET", path, admin, params={"limit": "1000"})
    assert reply.status_code == 200, reply.text
    assert reply.json["next"] is None
    items: list[dict[str, Any]] = reply.json["items"]
    return items


@dataclass
class Model:
    """The director's catalogue as the director API lists it."""

    assets: list[dict[str, Any]]
    playlists: list[dict[str, Any]]
    schedules: list[dict[str, Any]]
    devices: dict[str, dict[str, Any]]
    # Those that have not ended: the test's all end a day after they start.
    overrides: list[dict[str, Any]]

    @classmethod
    def read(cls, api: Api, admin: str) -> Model:
        return cls(
            _items(api, admin, "/v1/assets"),
            _items(api, admin, "/v1/playlists"),
            _items(api, admin, "/v1/schedules"),
            {d["id"]: d for d in _items(api, admin, "/v1/devices")},
            _items(api, admin, "/v1/overrides"),
        )

    def refresh(self, api: Api, admin: str, op: str) -> None:
        """Re-list what ``op`` can change (each edit is one request on one kind)."""
        if op in ("upload", "retitle", "toggle_emergency", "delete_asset"):
            self.assets = _items(api, admin, "/v1/assets")
        elif op.endswith("_playlist"):
            self.playlists = _items(api, admin, "/v1/playlists")
        elif op.endswith("_schedule"):
            self.schedules = _items(api, admin, "/v1/schedules")
        elif op.endswith("_override"):
            self.overrides = _items(api, admin, "/v1/overrides")
        else:
            self.devices = {d["id"]: d for d in _items(api, admin, "/v1/devices")}

    def scope(self, device_id: str) -> tuple[str, tuple[str, ...]]:
        d = self.devices[device_id]
        return d["timezone"], tuple(sorted(d["groups"]))

    def view(self, device_id: str) -> tuple[Ids, str]:
        """The device's view by the PROTOCOL rule, and a digest of its content."""
        groups = set(self.devices[device_id]["groups"])

        def targets(target: dict[str, Any]) -> bool:
            return (
                target.get("all") is True
                or target.get("device_id") == device_id
                or target.get("group") in groups
            )

        schedules = [s for s in self.schedules if targets(s["target"])]
        overrides = [o for o in self.overrides if targets(o["target"])]
        used = {r["playlist_id"] for r in (*schedules, *overrides)}
        playlists = [p for p in self.playlists if p["id"] in used]
        items = {i["asset_id"] for p in playlists for i in p["items"]}
        assets = [a for a in self.assets if a["id"] in items or a["emergency"]]
        ids = {
            "assets": {a["id"] for a in assets},
            "playlists": {p["id"] for p in playlists},
            "schedules": {s["id"] for s in schedules},
            "overrides": {o["id"] for o in overrides},
        }
        device = {k: self.devices[device_id][k] for k in ("name", "timezone", "groups")}
        content = json.dumps([device, assets, playlists, schedules, overrides], sort_keys=True)
        return ids, hashlib.sha256(content.encode()).hexdigest()


def _pick(seq: list[Any], n: int) -> Any:
    return seq[n % len(seq)] if seq else None


def _target(devices: list[Device], n: int) -> dict[str, Any]:
    options: list[dict[str, Any]] = [{"device_id": d.device_id} for d in devices]
    options += [{"group": g} for g in (*GROUPS, "elsewhere")] + [{"all": True}]
    return options[n % len(options)]


def run_edit(
    api: Api, admin: str, model: Model, devices: list[Device], edit: tuple[str, int, int, int]
) -> None:
    """One director request, chosen from what the catalogue holds now."""
    op, a, b, c = edit
    asset, playlist = _pick(model.assets, a), _pick(model.playlists, b)
    schedule = _pick(model.schedules, c)
    if op == "upload":
        flag = "true" if b % 3 == 0 else "false"
        data = f"media {len(model.assets)} {a}".encode()
        # Images: the quickest probe, so the budget goes to edits and polls.
        reply = api.upload(admin, png(data), "image/png", emergency=flag)
        assert reply.status_code in (200, 201), reply.text
    elif op == "retitle" and asset:
        reply = api.call("PATCH", f"/v1/assets/{asset['id']}", admin, json={"title": f"t{b}"})
        assert reply.status_code == 200, reply.text
    elif op == "toggle_emergency" and asset:
        body = {"emergency": not asset["emergency"]}
        reply = api.call("PATCH", f"/v1/assets/{asset['id']}", admin, json=body)
        assert reply.status_code == 200, reply.text
    elif op == "delete_asset" and asset:
        reply = api.call("DELETE", f"/v1/assets/{asset['id']}", admin)
        assert reply.status_code in (204, 409), reply.text
    elif op in ("create_playlist", "edit_playlist") and model.assets:
        chosen = [_pick(model.assets, a + i * (b + 1))["id"] for i in range(c % 3 + 1)]
        body = {"name": f"p{a}", "items": [{"asset_id": x} for x in chosen]}
        if op == "create_playlist" or playlist is None:
            reply = api.call("POST", "/v1/playlists", admin, json=body)
            assert reply.status_code == 201, reply.text
        else:
            reply = api.call("PUT", f"/v1/playlists/{playlist['id']}", admin, json=body)
            assert reply.status_code == 200, reply.text
    elif op == "delete_playlist" and playlist:
        reply = api.call("DELETE", f"/v1/playlists/{playlist['id']}", admin)
        assert reply.status_code in (204, 409), reply.text
    elif op in ("create_schedule", "retarget_schedule", "switch_schedule") and playlist:
        if op == "create_schedule" or schedule is None:
            body = {"playlist_id": playlist["id"], "target": _target(devices, a)}
            reply = api.call("POST", "/v1/schedules", admin, json=body)
            assert reply.status_code == 201, reply.text
        else:
            body = {
                "playlist_id": playlist["id"]
                if op == "switch_schedule"
                else schedule["playlist_id"],
                "target": _target(devices, a) if op == "retarget_schedule" else schedule["target"],
                "priority": schedule["priority"],
            }
            reply = api.call("PUT", f"/v1/schedules/{schedule['id']}", admin, json=body)
            assert reply.status_code == 200, reply.text
    elif op == "delete_schedule" and schedule:
        reply = api.call("DELETE", f"/v1/schedules/{schedule['id']}", admin)
        assert reply.status_code == 204, reply.text
    elif op == "create_override" and playlist:
        until = format_instant(datetime.now(UTC) + timedelta(days=1))
        body = {"playlist_id": playlist["id"], "target": _target(devices, a), "until": until}
        reply = api.call("POST", "/v1/overrides", admin, json=body)
        assert reply.status_code == 201, reply.text
    elif op == "delete_override" and model.overrides:
        override = _pick(model.overrides, c)
        reply = api.call("DELETE", f"/v1/overrides/{override['id']}", admin)
        assert reply.status_code == 204, reply.text
    elif op == "patch_device":
        device = devices[a % len(devices)]
        patch: dict[str, Any] = [
            {"groups": ["north"]},
            {"groups": ["south"]},
            {"groups": []},
            {"groups": ["north", "south"]},
            {"timezone": "Europe/Paris"},
            {"timezone": "UTC"},
            {"name": f"box {b}"},
        ][b % 7]
        reply = api.call("PATCH", f"/v1/devices/{device.device_id}", admin, json=patch)
        assert reply.status_code == 200, reply.text


def observe(model: Model, devices: list[Device]) -> None:
    """After a request: what each device's view has ever been, and whether it moved."""
    for device in devices:
        ids, digest = model.view(device.device_id)
        for kind in KINDS:
            device.ever_in_view[kind] |= ids[kind]
        if digest != device.view_at_cursor:
            device.touched = True
        if model.scope(device.device_id) != device.scope_at_cursor:
            device.scope_touched = True


def _full(api: Api, device: Device) -> dict[str, Any]:
    reply = api.call("GET", "/v1/device/manifest", device.token)
    assert reply.status_code == 200, reply.text
    assert reply.json["full"] is True
    body: dict[str, Any] = reply.json
    return body


def _outcome(manifest: dict[str, Any]) -> str:
    if manifest["full"]:
        return "full"
    if any(manifest["deleted"][k] for k in KINDS):
        return "delta with deletions"
    return "delta" if any(manifest[k] for k in KINDS) else "empty delta"


def poll(api: Api, model: Model, device: Device, *, short_log: bool) -> None:
    """One sync with the device's cursor, applied and checked against the contract."""
    client = device.client
    first = client.cursor is None
    params = None if first else {"since": client.cursor}
    reply = api.call("GET", "/v1/device/manifest", device.token, params=params)
    scope_now = model.scope(device.device_id)
    if reply.status_code == 304:
        event("poll: 304")
        assert not first
        assert reply.headers["etag"] == f'"{client.cursor}"'
        assert not device.touched, "a 304 although the device's view changed"
        assert scope_now == device.scope_at_cursor
    else:
        assert reply.status_code == 200, reply.text
        manifest = reply.json
        decoded = decode_manifest(reply.content)  # the player's decoder accepts it
        if scope_now != device.scope_at_cursor:
            assert manifest["full"], "the scope changed since the cursor: full snapshot"
        if manifest["full"] and not first:
            assert device.scope_touched or short_log, "a full snapshot without a reason"
        if not manifest["full"]:
            now_ids, _ = model.view(device.device_id)
            for kind in KINDS:
                gone = set(manifest["deleted"][kind])
                assert gone <= device.ever_in_view[kind], (
                    f"deleted.{kind} names what was never in the view: "
                    f"{gone - device.ever_in_view[kind]}"
                )
                assert gone <= device.ever_held[kind], (
                    f"deleted.{kind} names what the device never held: "
                    f"{gone - device.ever_held[kind]}"
                )
                assert not gone & now_ids[kind], f"deleted.{kind} names what is in view"
            if not device.touched:
                assert all(not manifest[k] and not manifest["deleted"][k] for k in KINDS), (
                    "a change outside the device's view gave a non-empty delta"
                )
        event("poll: " + _outcome(manifest))
        client.apply(manifest)
        device.store.catalogue.apply_manifest(decoded)
        for kind in KINDS:
            device.ever_held[kind] |= set(client.state[kind])
    # The client, the player's store and a full manifest at this moment agree.
    full = _full(api, device)
    expected_ids, digest = model.view(device.device_id)
    assert {k: {o["id"] for o in full[k]} for k in KINDS} == expected_ids
    assert client.state == {k: {o["id"]: o for o in full[k]} for k in KINDS}
    assert client.device == full["device"]
    assert client.ids() == {
        "assets": {a.id for a in device.store.catalogue.all_assets()},
        "playlists": {p.id for p in device.store.catalogue.all_playlists()},
        "schedules": {s.id for s in device.store.catalogue.all_schedules()},
        "overrides": {o.id for o in device.store.catalogue.all_overrides()},
    }
    device.touched = device.scope_touched = False
    device.scope_at_cursor = scope_now
    device.view_at_cursor = digest


OPS = [
    "upload",
    "upload",
    "retitle",
    "toggle_emergency",
    "toggle_emergency",
    "delete_asset",
    "create_playlist",
    "edit_playlist",
    "edit_playlist",
    "delete_playlist",
    "create_schedule",
    "create_schedule",
    "retarget_schedule",
    "retarget_schedule",
    "switch_schedule",
    "delete_schedule",
    "create_override",
    "create_override",
    "delete_override",
    "patch_device",
]
N = st.integers(0, 1000)
# Which devices poll after the request (a bit mask): mostly few, so edits pile up.
POLLS = st.sampled_from([0, 0, 0, 1, 2, 4, 8, 3, 7, 15])
EDITS = st.lists(st.tuples(st.sampled_from(OPS), N, N, N, POLLS), min_size=5, max_size=30)
SEED: list[tuple[str, int, int, int]] = [
    ("upload", 0, 1, 0),
    ("upload", 1, 3, 0),  # emergency
    ("upload", 2, 1, 0),
    ("create_playlist", 0, 0, 1),
    ("create_schedule", 3, 0, 0),  # group north
]


def converge(api: Api, edits: list[Any], *, short_log: bool = False) -> None:
    note(f"edits (op, a, b, c, polls): {edits!r}")
    admin = api.tenant()
    with tempfile.TemporaryDirectory() as scratch:
        devices = []
        for i, groups in enumerate(DEVICE_GROUPS):
            device_id, token = api.device(admin, f"box{i}", groups=groups)
            store = PlayerStore.open(Path(scratch) / f"player{i}.db")
            devices.append(Device(device_id, token, ReferenceClient(), store))
        try:
            model = Model.read(api, admin)
            observe(model, devices)
            for edit in SEED:
                run_edit(api, admin, model, devices, edit)
                model.refresh(api, admin, edit[0])
                observe(model, devices)
            for device in devices:
                poll(api, model, device, short_log=short_log)
            for op, a, b, c, polls in edits:
                run_edit(api, admin, model, devices, (op, a, b, c))
                model.refresh(api, admin, op)
                observe(model, devices)
                for i, device in enumerate(devices):
                    if polls & (1 << i):
                        poll(api, model, device, short_log=short_log)
            for device in devices:
                poll(api, model, device, short_log=short_log)
                poll(api, model, device, short_log=short_log)  # unchanged: 304 or empty
        finally:
            for device in devices:
                device.store.close()


# Shrinking replays whole HTTP sequences (minutes); the failing edits are noted instead.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(
    max_examples=EXAMPLES or 10, deadline=None, phases=NO_SHRINK, suppress_health_check=SLOW_OK
)
@given(edits=EDITS)
def test_deltas_follow_the_protocol_rule(api: Api, edits: list[Any]) -> None:
    converge(api, edits)


@pytest.fixture
def short_log_api(settings_env: dict[str, str]) -> Iterator[Api]:
    """The smallest change log allowed: lagging cursors fall off it."""
    yield from make_api(settings_env, changelog_horizon_revisions=10)


@settings(
    max_examples=EXAMPLES or 4, deadline=None, phases=NO_SHRINK, suppress_health_check=SLOW_OK
)
@given(edits=EDITS)
def test_deltas_follow_the_protocol_rule_across_the_log_horizon(
    short_log_api: Api, edits: list[Any]
) -> None:
    converge(short_log_api, edits, short_log=True)


# ------------------------------------------------------------ the cases by name


def _sync(api: Api, token: str, cursor: str | None) -> Any:
    params = {"since": cursor} if cursor else None
    return api.call("GET", "/v1/device/manifest", token, params=params)


def _catalogue(api: Api, admin: str, target: dict[str, Any], data: bytes) -> tuple[str, str, str]:
    asset_id = api.upload(admin, png(data), "image/png").json["id"]
    body = {"name": "p", "items": [{"asset_id": asset_id}]}
    playlist_id = api.call("POST", "/v1/playlists", admin, json=body).json["id"]
    schedule = {"playlist_id": playlist_id, "target": target}
    schedule_id = api.call("POST", "/v1/schedules", admin, json=schedule).json["id"]
    return asset_id, playlist_id, schedule_id


def test_edits_outside_the_view_give_an_empty_delta_naming_nothing(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin, groups=["north"])
    cursor = _sync(api, token, None).json["cursor"]
    _catalogue(api, admin, {"group": "south"}, b"for the south")
    reply = _sync(api, token, cursor)
    assert reply.status_code == 200
    delta = reply.json
    assert delta["full"] is False
    assert delta["deleted"] == {k: [] for k in KINDS}
    assert all(delta[k] == [] for k in KINDS)
    assert _sync(api, token, delta["cursor"]).status_code == 304


def test_roots_that_left_the_view_are_named_and_nothing_else(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin, groups=["north"])
    _, playlist_id, schedule_id = _catalogue(api, admin, {"group": "north"}, b"north")
    siren = api.upload(admin, png(b"siren"), "image/png", emergency="true").json["id"]
    full = _sync(api, token, None).json
    assert {s["id"] for s in full["schedules"]} == {schedule_id}
    moved = {"playlist_id": playlist_id, "target": {"group": "south"}}
    assert api.call("PUT", f"/v1/schedules/{schedule_id}", admin, json=moved).status_code == 200
    patched = api.call("PATCH", f"/v1/assets/{siren}", admin, json={"emergency": False})
    assert patched.status_code == 200
    _catalogue(api, admin, {"device_id": api.device(admin, "other")[0]}, b"other")
    delta = _sync(api, token, full["cursor"]).json
    assert delta["full"] is False
    # The playlist and its asset go by the client's garbage collection.
    assert delta["deleted"] == {
        "assets": [siren],
        "playlists": [],
        "schedules": [schedule_id],
        "overrides": [],
    }
    assert all(delta[k] == [] for k in KINDS)


def test_a_change_logged_before_root_before_existed_gives_a_full_snapshot(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    _, _, schedule_id = _catalogue(api, admin, {"all": True}, b"all")
    cursor = _sync(api, token, None).json["cursor"]
    assert api.call("DELETE", f"/v1/schedules/{schedule_id}", admin).status_code == 204
    with api.db.write() as s:  # as migration 0005 leaves the rows logged before it
        s.execute(update(Change).where(Change.object_id == schedule_id).values(root_before=None))
    reply = _sync(api, token, cursor)
    assert reply.status_code == 200
    assert reply.json["full"] is True
    assert all(reply.json[k] == [] for k in KINDS)
