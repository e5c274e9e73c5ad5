"""``/v1/overrides`` (PROTOCOL.md "Push and remote commands"), and overrides in manifests.

The app runs on a clock the test moves (``create_app(now=...)``), so "ended"
is reached without sleeping; every answer is checked against the served
OpenAPI document (``CheckedClient``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.app import create_app
from control_api.core.validation import format_instant
from control_api.services.schedule_preview import what_plays_at
from control_api.settings import load_settings
from control_api.store.db import Database
from control_api.store.models import Device
from lomuz_rules.model import Tier
from tests.control_api.conftest import Api
from tests.control_api.media_samples import png
from tests.control_api.openapi_check import CheckedClient

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(settings_env: dict[str, str], clock: Clock) -> Iterator[Api]:
    settings = load_settings(settings_env)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(replace(settings), now=clock)
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


def _instant(at: datetime) -> str:
    return format_instant(at)


def _playlist(api: Api, admin: str, data: bytes = b"override") -> tuple[str, str]:
    asset_id = api.upload(admin, png(data), "image/png").json["id"]
    body = {"name": "now", "items": [{"asset_id": asset_id}]}
    reply = api.call("POST", "/v1/playlists", admin, json=body)
    assert reply.status_code == 201, reply.text
    return reply.json["id"], asset_id


def _override(
    api: Api, admin: str, playlist_id: str, target: dict[str, Any], until: datetime
) -> Any:
    body = {"playlist_id": playlist_id, "target": target, "until": _instant(until)}
    return api.call("POST", "/v1/overrides", admin, json=body)


def _sync(api: Api, token: str, cursor: str | None = None) -> Any:
    params = {"since": cursor} if cursor else None
    return api.call("GET", "/v1/device/manifest", token, params=params)


# ------------------------------------------------------------ the resource


def test_create_get_list_delete(api: Api, clock: Clock) -> None:
    admin = api.tenant()
    device_id, _ = api.device(admin)
    playlist_id, _ = _playlist(api, admin)
    until = T0 + timedelta(hours=2)
    created = _override(api, admin, playlist_id, {"device_id": device_id}, until)
    assert created.status_code == 201, created.text
    body = created.json
    assert created.headers["location"] == f"/v1/overrides/{body['id']}"
    assert body == {
        "id": body["id"],
        "playlist_id": playlist_id,
        "target": {"device_id": device_id},
        "until": "2026-12-01T11:00:00Z",
        "created_at": "2026-12-01T09:00:00Z",
    }
    assert api.call("GET", f"/v1/overrides/{body['id']}", admin).json == body
    assert api.call("GET", "/v1/overrides", admin).json == {"items": [body], "next": None}
    clock.at = until  # ended: no longer listed, still readable until removed
    assert api.call("GET", "/v1/overrides", admin).json["items"] == []
    assert api.call("GET", f"/v1/overrides/{body['id']}", admin).status_code == 200
    assert api.call("DELETE", f"/v1/overrides/{body['id']}", admin).status_code == 204
    assert api.call("GET", f"/v1/overrides/{body['id']}", admin).status_code == 404
    assert api.call("DELETE", f"/v1/overrides/{body['id']}", admin).status_code == 404


@pytest.mark.parametrize(
    ("until", "field"),
    [
        (T0, "until"),  # not in the future
        (T0 - timedelta(seconds=1), "until"),
        (T0 + timedelta(days=31, seconds=1), "until"),
    ],
)
def test_until_must_be_soon_and_in_the_future(api: Api, until: datetime, field: str) -> None:
    admin = api.tenant()
    playlist_id, _ = _playlist(api, admin)
    reply = _override(api, admin, playlist_id, {"all": True}, until)
    assert reply.status_code == 422, reply.text
    assert reply.json["error"]["message"].startswith(f"{field}:")
    assert (
        _override(api, admin, playlist_id, {"all": True}, T0 + timedelta(days=31)).status_code
        == 201
    )


def test_another_tenants_playlist_device_or_override_is_refused(api: Api) -> None:
    mine, theirs = api.tenant("mine"), api.tenant("theirs")
    my_playlist, _ = _playlist(api, mine, b"mine")
    their_playlist, _ = _playlist(api, theirs, b"theirs")
    their_device, _ = api.device(theirs)
    until = T0 + timedelta(hours=1)
    reply = _override(api, mine, their_playlist, {"all": True}, until)
    assert (reply.status_code, reply.json["error"]["code"]) == (422, "unknown_playlist")
    reply = _override(api, mine, my_playlist, {"device_id": their_device}, until)
    assert (reply.status_code, reply.json["error"]["code"]) == (422, "unknown_device")
    reply = _override(api, mine, my_playlist, {"group": "no device has it yet"}, until)
    assert reply.status_code == 201  # a group is any name, as for schedules
    theirs_override = _override(api, theirs, their_playlist, {"all": True}, until).json["id"]
    assert api.call("GET", f"/v1/overrides/{theirs_override}", mine).status_code == 404
    assert api.call("DELETE", f"/v1/overrides/{theirs_override}", mine).status_code == 404
    assert [o["id"] for o in api.call("GET", "/v1/overrides", theirs).json["items"]] == [
        theirs_override
    ]


def test_tokens(api: Api) -> None:
    admin = api.tenant()
    _, device_token = api.device(admin)
    playlist_id, _ = _playlist(api, admin)
    body = {
        "playlist_id": playlist_id,
        "target": {"all": True},
        "until": _instant(T0 + timedelta(hours=1)),
    }
    assert api.call("POST", "/v1/overrides", None, json=body).status_code == 401
    assert api.call("POST", "/v1/overrides", "not-a-token", json=body).status_code == 401
    assert api.call("POST", "/v1/overrides", device_token, json=body).status_code == 403
    assert api.call("GET", "/v1/overrides", device_token).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": {"all": True}, "until": "2026-12-01T10:00:00Z"}, "playlist_id"),
        ({"playlist_id": "p", "until": "2026-12-01T10:00:00Z"}, "target"),
        ({"playlist_id": "p", "target": {"all": True}}, "until"),
        ({"playlist_id": "p", "target": {"all": False}, "until": "2026-12-01T10:00:00Z"}, "target"),
        (
            {
                "playlist_id": "p",
                "target": {"group": "a", "all": True},
                "until": "2026-12-01T10:00:00Z",
            },
            "target",
        ),
        ({"playlist_id": "p", "target": {"all": True}, "until": "tomorrow"}, "until"),
        ({"playlist_id": "p", "target": {"all": True}, "until": "2026-12-01T10:00:00"}, "until"),
        (
            {"playlist_id": "p", "target": {"all": True}, "until": "2026-12-01T10:00:00Z", "x": 1},
            "x",
        ),
    ],
)
def test_bad_bodies_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    admin = api.tenant()
    reply = api.call("POST", "/v1/overrides", admin, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json["error"]["message"].startswith(field), reply.json


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
INSTANTS = st.one_of(
    st.text(max_size=40),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-12-01T10:00:00Z", "2026-12-01T10:00:00+14:00", "9999-12-31T23:59:59Z"]),
)
TARGETS = st.one_of(
    JSON,
    st.fixed_dictionaries({"device_id": st.text(max_size=50)}),
    st.fixed_dictionaries({"group": st.text(max_size=120)}),
    st.fixed_dictionaries({"all": JSON}),
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            "playlist_id": st.one_of(JSON, st.text(max_size=60)),
            "target": TARGETS,
            "until": INSTANTS | JSON,
        },
        optional={"extra": JSON},
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_hostile_bodies_never_get_a_500(api: Api, body: Any) -> None:
    admin = api.tenant()
    reply = api.call("POST", "/v1/overrides", admin, json=body)
    assert reply.status_code in (400, 413, 422), (body, reply.text)
    assert reply.json["error"]["code"]


# ------------------------------------------------------------ the manifest


def test_a_delta_carries_an_override_with_its_playlist_and_then_its_tombstone(api: Api) -> None:
    admin = api.tenant()
    _, north = api.device(admin, "north box", groups=["north"])
    _, south = api.device(admin, "south box", groups=["south"])
    north_cursor = _sync(api, north).json["cursor"]
    south_cursor = _sync(api, south).json["cursor"]
    playlist_id, asset_id = _playlist(api, admin)
    override = _override(api, admin, playlist_id, {"group": "north"}, T0 + timedelta(hours=1)).json
    delta = _sync(api, north, north_cursor).json
    assert delta["full"] is False
    assert delta["overrides"] == [
        {
            "id": override["id"],
            "playlist_id": playlist_id,
            "target": "group",
            "until": override["until"],
            "created_at": override["created_at"],
        }
    ]
    assert [p["id"] for p in delta["playlists"]] == [playlist_id]
    assert [a["id"] for a in delta["assets"]] == [asset_id]
    assert _sync(api, north).json["overrides"] == delta["overrides"]  # the full agrees
    other = _sync(api, south, south_cursor).json  # not its view: an empty delta
    assert other["overrides"] == other["playlists"] == other["assets"] == []
    assert api.call("DELETE", f"/v1/overrides/{override['id']}", admin).status_code == 204
    gone = _sync(api, north, delta["cursor"]).json
    assert gone["deleted"]["overrides"] == [override["id"]]
    assert gone["deleted"]["playlists"] == []  # the player's garbage collection drops it
    assert _sync(api, north).json["overrides"] == []
    assert _sync(api, south, other["cursor"]).json["deleted"]["overrides"] == []


def test_ended_overrides_are_removed_with_tombstones_at_the_next_override_write(
    api: Api, clock: Clock
) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    playlist_id, _ = _playlist(api, admin)
    first = _override(api, admin, playlist_id, {"all": True}, T0 + timedelta(minutes=5)).json
    cursor = _sync(api, token).json["cursor"]
    clock.at = T0 + timedelta(minutes=10)
    # Ended, but a view does not change by time alone: still there until a write.
    assert _sync(api, token, cursor).status_code == 304
    second = _override(api, admin, playlist_id, {"all": True}, T0 + timedelta(hours=1)).json
    delta = _sync(api, token, cursor).json
    assert delta["deleted"]["overrides"] == [first["id"]]
    assert [o["id"] for o in delta["overrides"]] == [second["id"]]
    assert api.call("GET", f"/v1/overrides/{first['id']}", admin).status_code == 404


def test_a_playlist_in_use_by_an_override_cannot_be_deleted_until_it_ended(
    api: Api, clock: Clock
) -> None:
    admin = api.tenant()
    playlist_id, _ = _playlist(api, admin)
    override = _override(api, admin, playlist_id, {"all": True}, T0 + timedelta(minutes=5)).json
    reply = api.call("DELETE", f"/v1/playlists/{playlist_id}", admin)
    assert (reply.status_code, reply.json["error"]["code"]) == (409, "playlist_in_use")
    clock.at = T0 + timedelta(minutes=5)
    assert api.call("DELETE", f"/v1/playlists/{playlist_id}", admin).status_code == 204
    assert api.call("GET", f"/v1/overrides/{override['id']}", admin).status_code == 404


def test_a_deleted_device_takes_its_overrides_with_it(api: Api) -> None:
    admin = api.tenant()
    device_id, _ = api.device(admin)
    playlist_id, _ = _playlist(api, admin)
    override = _override(api, admin, playlist_id, {"device_id": device_id}, T0 + timedelta(hours=1))
    assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
    assert api.call("GET", f"/v1/overrides/{override.json['id']}", admin).status_code == 404
    assert api.call("DELETE", f"/v1/playlists/{playlist_id}", admin).status_code == 204


def test_the_preview_shows_the_override_above_the_schedule_until_it_ends(api: Api) -> None:
    admin = api.tenant()
    device_id, _ = api.device(admin, groups=["north"])
    scheduled, _ = _playlist(api, admin, b"scheduled")
    body = {"playlist_id": scheduled, "target": {"all": True}, "priority": 100}
    schedule_id = api.call("POST", "/v1/schedules", admin, json=body).json["id"]
    now_playing, _ = _playlist(api, admin, b"now")
    until = T0 + timedelta(hours=1)
    override_id = _override(api, admin, now_playing, {"group": "north"}, until).json["id"]
    with api.db.read() as s:
        tenant = s.get(Device, device_id)
        assert tenant is not None
        during = what_plays_at(s, tenant.tenant_id, device_id, T0 + timedelta(minutes=30))
        after = what_plays_at(s, tenant.tenant_id, device_id, until)
    assert (during.tier, during.playlist_id, during.schedule_id) == (
        Tier.OVERRIDE,
        now_playing,
        None,
    )
    assert any(override_id in line for line in during.reasons)
    assert during.next_boundary_at == until
    assert (after.tier, after.playlist_id, after.schedule_id) == (
        Tier.PLAYLIST,
        scheduled,
        schedule_id,
    )
