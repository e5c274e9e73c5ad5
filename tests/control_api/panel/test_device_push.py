"""The panel shows push state, sends remote commands and starts and clears overrides
(issue 13), through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from control_api.panel.director import Role
from control_api.store.models import Device
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.control_api.panel.conftest import Browser, Panel
from tests.control_api.panel.html import Element, parse, table_rows

SNAPSHOT = {
    "at": "2026-12-03T10:00:00+00:00",
    "state": "playing",
    "item": {"asset_id": "ast_x", "sha256": "ab" * 32, "title": "Morning song"},
    "tier": "override",
    "playlist_id": "pl_x",
    "position_ms": 1200,
    "volume": 70,
}


def _signed_in(panel: Panel, role: Role = "editor") -> tuple[Browser, str]:
    tenant_id, admin = panel.tenant()
    return panel.signed_in(role, tenant_id), admin


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _playlist(api: Api, admin: str, name: str = "Promo") -> str:
    song = api.upload(admin, wav(name.encode()), title=f"{name} song").json
    made = api.call(
        "POST", "/v1/playlists", admin, json={"name": name, "items": [{"asset_id": song["id"]}]}
    )
    assert made.status_code == 201, made.text
    return str(made.json["id"])


def _commands(me: Browser, device_id: str) -> list[dict[str, str]]:
    fragment = _page(me.get(f"/devices/{device_id}/commands"))
    if not fragment.find_all("table", class_="commands"):
        return []
    return table_rows(fragment, "commands")


def _overrides(api: Api, admin: str) -> list[dict[str, Any]]:
    listed = api.call("GET", "/v1/overrides", admin)
    assert listed.status_code == 200, listed.text
    return list(listed.json["items"])


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------ push state


def test_the_table_and_the_device_page_show_the_push_link(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    pushed, pushed_token = api.device(admin, "Pushed")
    _, polling_token = api.device(admin, "Polling")
    silent, silent_token = api.device(admin, "Old player")
    away, away_token = api.device(admin, "Away")
    for token, state in ((pushed_token, "connected"), (polling_token, "disconnected")):
        sent = api.call("POST", "/v1/device/telemetry", token, json={"push": {"state": state}})
        assert sent.status_code == 204, sent.text
    for token in (silent_token, away_token):  # an old player, a hostile one
        body = {"push": {"state": "<b>hacked</b>"}}
        assert api.call("POST", "/v1/device/telemetry", token, json=body).status_code == 204
    with panel.db.write() as s:
        s.execute(
            update(Device)
            .where(Device.id == away)
            .values(last_seen_at=panel.clock.now() - timedelta(hours=1))
        )

    rows = {r["Name"]: r for r in table_rows(_page(me.get("/devices")), "devices")}

    assert rows["Pushed"]["Push"] == "connected"
    assert rows["Polling"]["Push"] == "disconnected (polling)"
    assert rows["Old player"]["Push"] == "not reported"
    assert (rows["Away"]["State"], rows["Away"]["Push"]) == ("offline", "—")
    page = _page(me.get(f"/devices/{pushed}"))
    facts = page.find("section", aria_labelledby="status-title").find("dl")
    assert "Push connected" in facts.text()
    assert silent in {r["data-device"] for r in rows.values()}


# ------------------------------------------------------------------ commands


def test_an_editor_sends_a_snapshot_and_sees_its_result_once_the_device_answers(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till")
    page = _page(me.get(f"/devices/{device_id}"))
    labels = [b.text() for b in page.find("div", class_="command-buttons").find_all("button")]
    assert labels == ["Sync now", "Skip", "Restart playback", "Snapshot"]
    assert page.find("div", id="device-commands").attrs["data-open"] == "no"

    sent = me.post(f"/devices/{device_id}/commands", {"type": "snapshot"})

    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/devices/{device_id}?done=command#commands"
    shown = _page(me.get(f"/devices/{device_id}?done=command"))
    assert shown.find("p", role="status").text() == "The command was sent."
    listing = shown.find("div", id="device-commands")
    assert listing.attrs["data-open"] == "yes"
    assert listing.attrs["hx-get"] == f"/devices/{device_id}/commands"
    assert listing.attrs["hx-trigger"] == "every 2s"
    [row] = _commands(me, device_id)
    assert (row["Command"], row["State"], row["Result"]) == ("Snapshot", "pending", "—")

    picked = api.call("GET", "/v1/device/commands", token)
    [command] = picked.json["items"]
    assert command["id"] == row["data-command"] and command["type"] == "snapshot"
    acked = api.call(
        "POST",
        f"/v1/device/commands/{command['id']}",
        token,
        json={"state": "done", "result": SNAPSHOT},
    )
    assert acked.status_code == 200, acked.text

    fragment = _page(me.get(f"/devices/{device_id}/commands"))
    [row] = table_rows(fragment, "commands")
    assert row["State"] == "done"
    assert row["Result"] == "item Morning song, tier override, state playing, volume 70%"
    # Nothing open: the fragment no longer asks for itself.
    assert "hx-trigger" not in fragment.find("div", id="device-commands").attrs


def test_each_button_and_the_volume_form_send_their_command_newest_first(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till")
    for command_type in ("sync", "skip", "restart_playback"):
        sent = me.post(f"/devices/{device_id}/commands", {"type": command_type})
        assert sent.status_code == 303, sent.text
        panel.clock.advance(1)
    assert (
        me.post(f"/devices/{device_id}/commands", {"type": "volume", "volume": " 42"}).status_code
        == 303
    )

    rows = _commands(me, device_id)
    assert [r["Command"] for r in rows] == ["Volume 42", "Restart playback", "Skip", "Sync now"]
    picked = api.call("GET", "/v1/device/commands", token).json["items"]
    assert [(c["type"], c.get("value")) for c in picked] == [
        ("sync", None),
        ("skip", None),
        ("restart_playback", None),
        ("volume", 42),
    ]
    failed = {"state": "failed", "result": {"error": "no sound card"}}
    assert (
        api.call("POST", f"/v1/device/commands/{picked[0]['id']}", token, json=failed).status_code
        == 200
    )
    assert _commands(me, device_id)[-1]["Result"] == "error: no sound card"


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"type": "volume", "volume": "101"}, "command-volume-error", "0..100"),
        ({"type": "volume", "volume": "-1"}, "command-volume-error", "0..100"),
        ({"type": "volume", "volume": "loud"}, "command-volume-error", "whole number"),
        ({"type": "volume", "volume": "٤٢"}, "command-volume-error", "whole number"),
        ({"type": "volume"}, "command-volume-error", "whole number"),
        ({"type": "reboot"}, None, "choose one of the commands"),
        ({}, None, "choose one of the commands"),
    ],
)
def test_a_refused_command_says_why_and_sends_nothing(
    api: Api, panel: Panel, form: dict[str, str], field: str | None, words: str
) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till")

    page = _page(me.post(f"/devices/{device_id}/commands", form), 422)

    shown = page.find("p", id=field) if field else page.find("p", role="alert")
    assert words in shown.text()
    assert api.call("GET", "/v1/device/commands", token).json["items"] == []


def test_a_viewer_sees_no_controls_and_every_change_is_403(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    device_id, token = api.device(admin, "Till")
    playlist = _playlist(api, admin)
    until = (panel.clock.now() + timedelta(hours=1)).isoformat()
    made = api.call(
        "POST",
        "/v1/overrides",
        admin,
        json={"playlist_id": playlist, "target": {"all": True}, "until": until},
    )
    assert made.status_code == 201, made.text

    for path in (f"/devices/{device_id}", "/devices"):
        page = _page(viewer.get(path))
        assert not page.find_all("form", action=f"/devices/{device_id}/commands")
        assert not page.find_all("form", action="/overrides")
        assert not page.find_all("form", action=f"/overrides/{made.json['id']}/clear")
        assert "Promo" in page.find("section", id="overrides").text()
    assert viewer.post(f"/devices/{device_id}/commands", {"type": "snapshot"}).status_code == 403
    start = {"playlist_id": playlist, "target": "all", "until": "1h"}
    assert viewer.post("/overrides", start).status_code == 403
    assert viewer.post(f"/overrides/{made.json['id']}/clear").status_code == 403
    assert api.call("GET", "/v1/device/commands", token).json["items"] == []
    assert [o["id"] for o in _overrides(api, admin)] == [made.json["id"]]


def test_every_new_form_without_the_csrf_token_is_403(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till")
    playlist = _playlist(api, admin)
    start = {"playlist_id": playlist, "target": "all", "until": "1h"}
    assert me.post("/overrides", start).status_code == 303
    [override] = _overrides(api, admin)

    assert (
        me.post(f"/devices/{device_id}/commands", {"type": "skip"}, csrf=False).status_code == 403
    )
    assert me.post("/overrides", start, csrf=False).status_code == 403
    assert me.post(f"/overrides/{override['id']}/clear", csrf=False).status_code == 403
    assert api.call("GET", "/v1/device/commands", token).json["items"] == []
    assert [o["id"] for o in _overrides(api, admin)] == [override["id"]]


def test_another_tenants_device_and_override_are_404(api: Api, panel: Panel) -> None:
    me, _ = _signed_in(panel)
    _, other_admin = panel.tenant("other")
    theirs, their_token = api.device(other_admin, "Their till")
    playlist = _playlist(api, other_admin)
    until = (panel.clock.now() + timedelta(hours=1)).isoformat()
    made = api.call(
        "POST",
        "/v1/overrides",
        other_admin,
        json={"playlist_id": playlist, "target": {"device_id": theirs}, "until": until},
    )
    assert made.status_code == 201, made.text

    assert me.get(f"/devices/{theirs}/commands").status_code == 404
    assert me.post(f"/devices/{theirs}/commands", {"type": "skip"}).status_code == 404
    assert me.post(f"/devices/{theirs}/commands", {"type": "volume"}).status_code == 404
    assert me.post(f"/overrides/{made.json['id']}/clear").status_code == 404
    start = {"playlist_id": playlist, "target": "device", "device_id": theirs, "until": "1h"}
    assert me.post("/overrides", start | {"from_device": theirs}).status_code == 404
    assert me.post("/overrides", start | {"from_device": "dev\x00"}).status_code == 404
    refused = _page(me.post("/overrides", start), 422)  # their playlist is no playlist here
    assert "no playlist" in refused.find("p", id="override-playlist_id-error").text()
    assert api.call("GET", "/v1/device/commands", their_token).json["items"] == []
    assert len(_overrides(api, other_admin)) == 1


# ------------------------------------------------------------------ overrides


def _override(api: Api, admin: str, playlist: str, target: dict[str, Any], until: datetime) -> str:
    made = api.call(
        "POST",
        "/v1/overrides",
        admin,
        json={"playlist_id": playlist, "target": target, "until": until.isoformat()},
    )
    assert made.status_code == 201, made.text
    return str(made.json["id"])


def test_the_device_page_lists_the_overrides_that_reach_it_and_clears_one(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    device_id, _ = api.device(admin, "Till", groups=["north"], timezone="Europe/Berlin")
    other_id, _ = api.device(admin, "Other", groups=["south"])
    promo, news = _playlist(api, admin, "Promo"), _playlist(api, admin, "News")
    now = panel.clock.now()
    reaching = {
        _override(api, admin, promo, {"all": True}, now + timedelta(hours=3)),
        _override(api, admin, news, {"group": "north"}, now + timedelta(hours=2)),
    }
    _override(api, admin, promo, {"group": "south"}, now + timedelta(hours=2))
    _override(api, admin, promo, {"device_id": other_id}, now + timedelta(hours=2))
    ended = _override(api, admin, news, {"all": True}, now + timedelta(minutes=1))
    panel.clock.advance(120)

    started = me.post(
        "/overrides",
        {
            "from_device": device_id,
            "target": "device",
            "device_id": device_id,
            "playlist_id": "news",  # its name, any case: the schedule form's picker rule
            "until": "15m",
        },
    )

    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"/devices/{device_id}?done=override#overrides"
    direct = next(o for o in _overrides(api, admin) if o["target"] == {"device_id": device_id})
    assert direct["playlist_id"] == news
    assert _instant(direct["until"]) == panel.clock.now() + timedelta(minutes=15)
    page = _page(me.get(f"/devices/{device_id}?done=override"))
    section = page.find("section", id="overrides")
    items = {li.attrs["data-override"]: li.text() for li in section.find_all("li")}
    assert set(items) == reaching | {direct["id"]}
    assert ended not in items
    assert items[direct["id"]].startswith("News on device Till, until")
    assert "CET" in items[direct["id"]]  # until in the device's zone
    assert "group north" in " ".join(items.values()) and "all devices" in " ".join(items.values())

    cleared = me.post(f"/overrides/{direct['id']}/clear", {"from_device": device_id})

    assert cleared.status_code == 303, cleared.text
    assert cleared.headers["location"] == f"/devices/{device_id}?done=cleared#overrides"
    assert api.call("GET", f"/v1/overrides/{direct['id']}", admin).status_code == 404
    after = _page(me.get(f"/devices/{device_id}")).find("section", id="overrides")
    assert {li.attrs["data-override"] for li in after.find_all("li")} == reaching


def test_play_now_until_the_end_of_the_day_or_a_time_is_the_devices_local_time(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    device_id, _ = api.device(admin, "Till", timezone="America/New_York")
    promo = _playlist(api, admin)
    zone = ZoneInfo("America/New_York")
    base = {"from_device": device_id, "target": "device", "device_id": device_id}
    base |= {"playlist_id": promo}

    assert me.post("/overrides", base | {"until": "eod"}).status_code == 303
    local_now = panel.clock.now().astimezone(zone)
    later = (local_now + timedelta(hours=2)).replace(second=0, microsecond=0, tzinfo=None)
    at = {"until": "at", "until_at": later.strftime("%Y-%m-%dT%H:%M")}
    assert me.post("/overrides", base | at).status_code == 303

    untils = sorted(_instant(o["until"]) for o in _overrides(api, admin))
    midnight = datetime.combine(local_now.date() + timedelta(days=1), datetime.min.time(), zone)
    assert sorted([midnight, later.replace(tzinfo=zone)]) == untils


def test_a_refused_play_now_on_a_device_page_is_shown_there(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device_id, _ = api.device(admin, "Till", timezone="Europe/Berlin")
    _playlist(api, admin)
    form = {"from_device": device_id, "target": "device", "device_id": device_id}
    form |= {"playlist_id": "Promo", "until": "at", "until_at": "2000-01-01T00:00"}

    page = _page(me.post("/overrides", form), 422)

    assert page.find("h1").text().startswith("Till")
    [label] = [e for e in page.find_all("label") if e.attrs.get("for") == "override-until-at"]
    assert "Europe/Berlin" in label.text()
    assert "must be in the future" in page.find("p", id="override-until-error").text()
    assert page.find("input", id="override-until-at").attrs["value"] == "2000-01-01T00:00"
    assert _overrides(api, admin) == []


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"playlist_id": ""}, "playlist_id", "must not be empty"),
        ({"playlist_id": "Nope"}, "playlist_id", "no playlist is named 'Nope'"),
        ({"playlist_id": "Pro\x00mo"}, "playlist_id", "no playlist is named"),
        ({"target": "group", "group": "nor\x00th"}, "group", "NUL"),
        ({"until": "forever"}, "until", "choose how long"),
        ({"until": "at", "until_at": ""}, "until", "give the time it ends"),
        ({"until": "at", "until_at": "2026-02-30T10:00"}, "until", "not a real date"),
        ({"until": "at", "until_at": "2000-01-01T10:00"}, "until", "must be in the future"),
        ({"until": "at", "until_at": "2999-01-01T10:00"}, "until", "at most 31 days"),
        ({"target": "planet"}, "target", "choose"),
        ({"target": "group", "group": ""}, "group", "must not be empty"),
        ({"target": "group", "group": "g" * 101}, "group", "100"),
    ],
)
def test_a_refused_play_now_on_the_fleet_page_says_why_and_starts_nothing(
    api: Api, panel: Panel, form: dict[str, str], field: str, words: str
) -> None:
    me, admin = _signed_in(panel)
    api.device(admin, "Till", groups=["north"])
    _playlist(api, admin)
    typed = {"playlist_id": "Promo", "target": "all", "until": "1h"} | form

    page = _page(me.post("/overrides", typed), 422)

    assert words in page.find("p", id=f"override-{field}-error").text()
    assert "open" in page.find("details", class_="override-start").attrs
    assert page.find("input", id="override-playlist").attrs["value"] == typed["playlist_id"]
    assert page.find_all("table", class_="devices")  # still the fleet page
    assert _overrides(api, admin) == []


def test_the_fleet_page_starts_an_override_for_a_group_and_for_all(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    api.device(admin, "Till", groups=["north"])
    promo = _playlist(api, admin)
    form = _page(me.get("/devices")).find("form", action="/overrides")
    assert [
        o.attrs["value"] for o in form.find("datalist", id="override-groups").find_all("option")
    ] == ["north"]
    assert [
        o.attrs["value"] for o in form.find("datalist", id="override-playlists").find_all("option")
    ] == [promo]

    group = me.post(
        "/overrides", {"playlist_id": promo, "target": "group", "group": "north", "until": "4h"}
    )
    every = me.post("/overrides", {"playlist_id": "Promo", "target": "all", "until": "1h"})

    assert (group.status_code, every.status_code) == (303, 303)
    assert group.headers["location"] == "/devices?done=override#overrides"
    targets = sorted(str(o["target"]) for o in _overrides(api, admin))
    assert targets == [str({"all": True}), str({"group": "north"})]
    box = _page(me.get("/devices?done=override"))
    assert box.find("p", role="status").text() == "The override was started."
    texts = [li.text() for li in box.find("section", id="overrides").find_all("li")]
    assert any(t.startswith("Promo on group north, until") and "UTC" in t for t in texts)
    assert any(t.startswith("Promo on all devices, until") for t in texts)
    [every_id] = [o["id"] for o in _overrides(api, admin) if o["target"] == {"all": True}]
    cleared = me.post(f"/overrides/{every_id}/clear")
    assert cleared.headers["location"] == "/devices?done=cleared#overrides"
    assert [o["target"] for o in _overrides(api, admin)] == [{"group": "north"}]


# ------------------------------------------------------------------ hostile input

HOSTILE = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)
COMMAND_FORMS = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(HOSTILE, st.sampled_from(["snapshot", "volume", "skip", "VOLUME"])),
        "volume": st.one_of(HOSTILE, st.integers(-5, 105).map(str)),
    },
)
OVERRIDE_FORMS = st.fixed_dictionaries(
    {},
    optional={
        "playlist_id": st.one_of(HOSTILE, st.sampled_from(["Promo", "promo", " Promo "])),
        "target": st.one_of(HOSTILE, st.sampled_from(["all", "group", "device"])),
        "group": st.one_of(HOSTILE, st.sampled_from(["north", "g" * 101])),
        "device_id": HOSTILE,
        "until": st.one_of(HOSTILE, st.sampled_from(["15m", "1h", "4h", "eod", "at"])),
        "until_at": st.one_of(HOSTILE, st.sampled_from(["2026-12-31T10:00", "9999-12-31T23:59"])),
        "from_device": HOSTILE,
    },
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=COMMAND_FORMS, override=OVERRIDE_FORMS)
def test_hostile_command_and_override_forms_never_500_and_store_only_valid_input(
    api: Api, panel: Panel, command: dict[str, str], override: dict[str, str]
) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till", groups=["north"])
    _playlist(api, admin)

    sent = me.post(f"/devices/{device_id}/commands", command)
    assert sent.status_code in (303, 400, 422), sent.text
    picked = api.call("GET", "/v1/device/commands", token).json["items"]
    if sent.status_code == 303:
        [stored] = picked
        assert stored["type"] == command["type"]
        if stored["type"] == "volume":
            assert 0 <= stored["value"] <= 100
            assert stored["value"] == int(command["volume"])
    else:
        assert picked == []
        if sent.status_code == 422:
            assert sent.text.count("<script") == 1  # htmx's tag: the input is escaped

    started = me.post("/overrides", override)
    assert started.status_code in (303, 400, 404, 422), started.text
    stored_overrides = _overrides(api, admin)
    if started.status_code == 303:
        [made] = stored_overrides
        assert made["target"] in ({"all": True}, {"group": override.get("group", "").strip()})
    else:
        assert stored_overrides == []
        if started.status_code == 422:
            assert started.text.count("<script") == 1
