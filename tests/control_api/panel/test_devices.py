"""The panel's Devices section through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from control_api.panel.director import Role
from control_api.store.models import Device
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.control_api.panel.conftest import Browser, Panel
from tests.control_api.panel.html import Element, parse, table_rows


def _signed_in(panel: Panel, role: Role = "editor") -> tuple[Browser, str]:
    """A director of a new tenant signed in through /login, and the tenant's admin token."""
    tenant_id, admin = panel.tenant()
    return panel.signed_in(role, tenant_id), admin


def _created(api: Api, admin: str, name: str, groups: list[str] | None = None) -> dict[str, Any]:
    reply = api.call("POST", "/v1/devices", admin, json={"name": name, "groups": groups or []})
    assert reply.status_code == 201, reply.text
    return dict(reply.json)


def _seen(panel: Panel, device_id: str, ago: timedelta) -> None:
    with panel.db.write() as s:
        s.execute(
            update(Device)
            .where(Device.id == device_id)
            .values(last_seen_at=panel.clock.now() - ago)
        )


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _rows(browser: Browser, query: str = "") -> list[dict[str, str]]:
    page = _page(browser.get("/devices" + query))
    return table_rows(page, "devices") if page.find_all("table", class_="devices") else []


def test_the_table_shows_each_state_and_what_the_device_reported(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"song"), title="Morning song").json
    made = api.call(
        "POST",
        "/v1/playlists",
        admin,
        json={"name": "Mornings", "items": [{"asset_id": song["id"]}]},
    )
    assert made.status_code == 201, made.text
    online_id, online_token = api.device(admin, "Till 1")
    offline_id, _ = api.device(admin, "Till 2")
    _seen(panel, offline_id, timedelta(hours=2))
    never = _created(api, admin, "Till 3")
    status = {
        "now_playing": {
            "state": "playing",
            "tier": "playlist",
            "asset_id": song["id"],
            "playlist_id": made.json["id"],
        },
        "last_sync_ok_at": panel.clock.now().isoformat(),
        "downloads": {"pending": 2, "failing": []},
        "cache": {"files": 3, "size_bytes": 4_500_000},
        "clock": {"trusted": False, "offset_s": 0.2},
        "system": {"temperature_c": 61.0, "throttled_now": False},
        "versions": {"player": "1.4.0"},
    }
    assert api.call("POST", "/v1/device/telemetry", online_token, json=status).status_code == 204

    rows = {r["Name"]: r for r in _rows(me)}
    assert rows["Till 1"]["State"] == "online"
    assert rows["Till 1"]["data-health"] == "amber"
    assert "clock not trusted" in rows["Till 1"]["Health"]
    assert rows["Till 1"]["Now playing"] == "Morning song playlist from Mornings"
    assert rows["Till 1"]["Pending downloads"] == "2"
    assert rows["Till 1"]["Cache"] == "4.5 MB"
    assert rows["Till 1"]["Clock"] == "not trusted"
    assert rows["Till 1"]["Temperature"] == "61 °C"
    assert rows["Till 1"]["App version"] == "1.4.0"
    assert (rows["Till 2"]["State"], rows["Till 2"]["data-health"]) == ("offline", "red")
    assert rows["Till 2"]["Last seen"] == "2 h ago"
    assert (rows["Till 3"]["State"], rows["Till 3"]["data-health"]) == ("never seen", "grey")
    for column in ("Last seen", "Now playing", "Cache", "Clock", "App version"):
        assert rows["Till 3"][column] == "—", column  # nothing reported
    assert {rows[n]["data-device"] for n in rows} == {online_id, offline_id, never["id"]}


def test_filters_combine_and_the_sort_orders_the_rows(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    api.device(admin, "North B", groups=["north"])
    north_off, _ = api.device(admin, "North A", groups=["north"])
    _seen(panel, north_off, timedelta(days=1))
    _created(api, admin, "North C", ["north"])
    api.device(admin, "South A", groups=["south"])

    def names(query: str) -> list[str]:
        return [r["Name"] for r in _rows(me, query)]

    assert names("") == ["North A", "North B", "North C", "South A"]
    assert names("?group=north&state=online") == ["North B"]
    assert names("?group=north&state=offline") == ["North A"]
    assert names("?group=north&state=never") == ["North C"]
    assert names("?q=a&state=online") == ["South A"]
    assert names("?group=south&q=north") == []
    assert names("?sort=last_seen") == ["South A", "North B", "North A", "North C"]
    assert names("?sort=state")[:2] == ["North C", "North A"]  # never seen, then offline longest
    empty = _page(me.get("/devices?group=nowhere"))
    assert "No device matches these filters" in empty.text()


def test_a_bad_filter_is_a_422_page_naming_it(api: Api, panel: Panel) -> None:
    me, _ = _signed_in(panel)
    for query, named in [
        ("?state=asleep", "state"),
        ("?sort=colour", "sort"),
        ("?after=zz", "after"),
    ]:
        page = _page(me.get("/devices" + query), 422)
        assert page.find("p", role="alert").text().startswith(named), query


def test_the_table_pages_by_fifty_and_filters_swap_in_place(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    for i in range(53):
        _created(api, admin, f"box {i:02d}")
    first = _page(me.get("/devices"))
    assert len(table_rows(first, "devices")) == 50
    next_link = first.find("a", rel="next")
    assert next_link.attrs["href"] == next_link.attrs["hx-get"]
    second = _page(me.get(str(next_link.attrs["href"])))
    assert [r["Name"] for r in table_rows(second, "devices")] == ["box 50", "box 51", "box 52"]
    assert not second.find_all("a", rel="next")
    form = first.find("form", class_="filters")
    assert (form.attrs["method"], form.attrs["action"]) == ("get", "/devices")  # works without JS
    assert (form.attrs["hx-target"], form.attrs["hx-push-url"]) == ("#device-table", "true")
    partial = me.get("/devices?q=box 5", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "<form" not in partial.text
    assert len(table_rows(parse(partial.text), "devices")) == 3


def test_another_tenants_devices_never_appear(api: Api, panel: Panel) -> None:
    me, mine = _signed_in(panel)
    theirs = panel.tenant("theirs")[1]
    _created(api, mine, "Mine")
    other = _created(api, theirs, "Theirs")
    assert [r["Name"] for r in _rows(me)] == ["Mine"]
    assert [r["Name"] for r in _rows(me, "?q=Theirs")] == []
    page = _page(me.get(f"/devices/{other['id']}"), 404)
    assert "Theirs" not in page.text()
    assert me.post(f"/devices/{other['id']}/decommission", {"confirm": "yes"}).status_code == 404
    assert me.post(f"/devices/{other['id']}/enrollment-code").status_code == 404
    assert api.call("GET", f"/v1/devices/{other['id']}", theirs).status_code == 200


def test_without_a_session_the_pages_send_to_sign_in(api: Api) -> None:
    answer = api.client.simulate_get("/devices/dev-1")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_a_viewer_sees_no_actions_and_a_change_is_403(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    device_id, token = api.device(admin, "Till")
    page = _page(viewer.get(f"/devices/{device_id}"))
    assert not page.find_all("form", method="post", action=f"/devices/{device_id}/enrollment-code")
    assert not page.find_all("button", class_="danger")
    assert viewer.post(f"/devices/{device_id}/enrollment-code").status_code == 403
    refused = viewer.post(f"/devices/{device_id}/decommission", {"confirm": "yes"})
    assert refused.status_code == 403
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200  # nothing changed


def test_a_change_without_the_csrf_token_is_403(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till")
    assert me.post(f"/devices/{device_id}/enrollment-code", csrf=False).status_code == 403
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200


def test_the_new_code_shown_enrolls_typed_lower_case_with_spaces(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device_id, old_token = api.device(admin, "Till")
    page = _page(me.post(f"/devices/{device_id}/enrollment-code"))
    shown = page.find("p", class_="enrollment-code")
    code = str(shown.attrs["data-code"])
    assert shown.text() == code and len(code) == 19 and code.count("-") == 3
    assert page.find_all("svg", class_="qr")
    assert "previous token no longer works" in page.text()
    assert api.call("GET", "/v1/device/manifest", old_token).status_code == 401
    typed = " ".join(code.lower().split("-"))
    enrolled = api.call("POST", "/v1/enroll", json={"enrollment_code": typed})
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json["device_id"] == device_id


def test_decommission_asks_first_then_stops_the_token(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till")
    asked = _page(me.post(f"/devices/{device_id}/decommission"))
    confirm = asked.find("form", class_="confirm")
    assert confirm.find("input", name="confirm").attrs["value"] == "yes"
    assert api.call("GET", "/v1/device/manifest", token).status_code == 200  # not yet
    done = me.post(f"/devices/{device_id}/decommission", {"confirm": "yes"})
    assert (done.status_code, done.headers["location"]) == (303, "/devices?done=decommissioned")
    assert api.call("GET", "/v1/device/manifest", token).status_code == 401
    notice = _page(me.get(done.headers["location"])).find("p", role="status")
    assert "decommissioned" in notice.text()
    assert _rows(me) == []


def test_the_device_page_says_what_plays_when(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device_id, token = api.device(admin, "Till", timezone="Europe/Paris", groups=["north"])
    song = api.upload(admin, wav(b"song"), title="Opening hours").json
    playlist = api.call(
        "POST",
        "/v1/playlists",
        admin,
        json={"name": "Daytime", "items": [{"asset_id": song["id"]}]},
    ).json
    schedule = {
        "playlist_id": playlist["id"],
        "target": {"group": "north"},
        "days": [1, 2, 3, 4, 5],
        "start_time": "09:00",
        "end_time": "17:00",
    }
    assert api.call("POST", "/v1/schedules", admin, json=schedule).status_code == 201
    play = {
        "id": "6f1c7a52-3c1e-4b7e-9d51-0a6f7f2b9e10",
        "asset_id": song["id"],
        "sha256": song["sha256"],
        "started_at": "2026-12-01T09:00:00Z",
        "ended_at": "2026-12-01T09:03:00Z",
        "source": "playlist",
        "outcome": "completed",
    }
    assert api.call("POST", "/v1/device/plays", token, json={"plays": [play]}).status_code == 200

    page = _page(me.get(f"/devices/{device_id}?at=2026-12-02T10:30"))  # a Wednesday
    decision = page.find("div", class_="decision")
    assert decision.attrs["data-tier"] == "playlist"
    assert "Daytime" in decision.text() and "Opening hours" in decision.text()
    evening = _page(me.get(f"/devices/{device_id}?at=2026-12-02T18:00"))
    assert evening.find("div", class_="decision").attrs["data-tier"] != "playlist"

    week = page.find("table", class_="week")
    days = [th.text() for th in week.find("thead").find_all("th")][1:]
    assert days[0].startswith("Mon 30 Nov") and len(days) == 7
    hours = {
        tr.find("th").text(): [td.text() for td in tr.find_all("td")]
        for tr in week.find("tbody").find_all("tr")
    }
    assert len(hours) == 24
    assert hours["09:00"][:5] == ["Daytime"] * 5 and hours["09:00"][5] != "Daytime"
    assert hours["08:00"][0] != "Daytime" and hours["16:00"][4] == "Daytime"
    assert hours["17:00"][0] != "Daytime"

    plays = table_rows(page, "plays")
    assert [(p["Asset"], p["Outcome"]) for p in plays] == [("Opening hours", "completed")]
    assert plays[0]["Started"].startswith("2026-12-01 10:00")  # in Paris
    facts = page.text()
    assert "Europe/Paris" in facts and "north" in facts
    bad = _page(me.get(f"/devices/{device_id}?at=tomorrow"), 422)
    assert bad.find("p", role="alert").text().startswith("at")


def test_hostile_telemetry_and_hardware_render_escaped_or_as_missing(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    created = _created(api, admin, "Till")
    hardware = {"model": "<script>x</script>", "nested": {"a": [1]}, "cpu": 4}
    enrolled = api.call(
        "POST",
        "/v1/enroll",
        json={"enrollment_code": created["enrollment_code"], "hardware": hardware},
    )
    token = enrolled.json["device_token"]
    status = {
        "now_playing": "<b>loud</b>",
        "cache": {"size_bytes": "lots"},
        "system": {"temperature_c": True, "throttled_now": "yes"},
        "versions": {"player": "<img src=x>" + "v" * 3000},
        "clock": [],
    }
    assert api.call("POST", "/v1/device/telemetry", token, json=status).status_code == 204
    listing = me.get("/devices")
    assert "<img src=x>" not in listing.text and "&lt;img src=x&gt;" in listing.text
    (row,) = table_rows(_page(listing), "devices")
    assert (row["Now playing"], row["Cache"], row["Temperature"], row["Clock"]) == ("—",) * 4
    assert len(row["App version"]) <= 200
    page = me.get(f"/devices/{created['id']}")
    assert "<script>x</script>" not in page.text
    facts = {
        dt.text(): dd.text()
        for dt, dd in zip(_page(page).find_all("dt"), _page(page).find_all("dd"), strict=True)
    }
    assert facts["model"] == "<script>x</script>" and facts["cpu"] == "4" and "nested" not in facts
