"""The panel's Schedules section through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.panel.director import Role
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.control_api.panel.conftest import Browser, Panel
from tests.control_api.panel.html import Element, parse, table_rows


def _signed_in(panel: Panel, role: Role = "editor") -> tuple[Browser, str]:
    tenant_id, admin = panel.tenant()
    return panel.signed_in(role, tenant_id), admin


def _playlist(api: Api, admin: str, name: str = "Morning") -> str:
    song = api.upload(admin, wav(name.encode()), title=f"{name} song").json
    reply = api.call(
        "POST", "/v1/playlists", admin, json={"name": name, "items": [{"asset_id": song["id"]}]}
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json["id"])


def _form(playlist_id: str, **changes: str) -> dict[str, str]:
    form = {
        "playlist_id": playlist_id,
        "target": "group",
        "group": "north",
        "start_time": "22:00",
        "end_time": "06:00",
        "priority": "5",
        "day_1": "on",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _schedules(api: Api, admin: str) -> list[dict[str, Any]]:
    reply = api.call("GET", "/v1/schedules", admin)
    assert reply.status_code == 200, reply.text
    return list(reply.json["items"])


def _cells(page: Element) -> dict[tuple[str, str], str]:
    """(day ISO date, "HH:00") -> what the week grid names in that cell."""
    table = page.find("table", class_="week")
    return {
        (str(td.attrs["data-day"]), str(td.attrs["data-hour"])): td.text()
        for td in table.find_all("td")
    }


def test_a_schedule_to_a_group_is_listed_and_wins_overnight_in_its_week(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    playlist_id = _playlist(api, admin, "Night shift")
    api.device(admin, "Till", groups=["north"], timezone="Europe/Paris")

    created = me.post("/schedules", _form(playlist_id))
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/schedules?done=created"
    (stored,) = _schedules(api, admin)
    assert stored["target"] == {"group": "north"}
    assert (stored["days"], stored["start_time"], stored["end_time"]) == ([1], "22:00", "06:00")
    assert stored["priority"] == 5

    (row,) = table_rows(_page(me.get("/schedules?done=created")), "schedules")
    assert row["Playlist"] == "Night shift"
    assert row["Target"] == "group north"
    assert row["Days"] == "Mon"
    assert row["Window"] == "22:00-06:00 (overnight, into the next day)"
    assert (row["Valid"], row["Priority"]) == ("always", "5")

    week = _page(me.get("/schedules/week?group=north&week=2026-12-02"))
    assert "Europe/Paris" in week.find("h2", id="week-title").text()
    cells = _cells(week)
    assert cells[("2026-11-30", "23:00")] == "Night shift"  # Monday night
    assert cells[("2026-12-01", "05:00")] == "Night shift"  # into Tuesday morning
    assert cells[("2026-12-01", "06:00")] != "Night shift"
    assert cells[("2026-12-01", "23:00")] != "Night shift"  # Tuesday is not ticked
    assert cells[("2026-11-30", "21:00")] != "Night shift"


def test_the_group_week_is_the_group_scope_only_and_utc_without_devices(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    group_list = _playlist(api, admin, "Group list")
    own_list = _playlist(api, admin, "Own list")
    till, _ = api.device(admin, "Till", groups=["north"])
    whole_day = _form(group_list, start_time="00:00", end_time="24:00")
    assert me.post("/schedules", whole_day).status_code == 303
    own = _form(own_list, target="device", device_id=till, start_time="09:00", end_time="18:00")
    assert me.post("/schedules", own).status_code == 303
    assert me.post("/schedules", _form(group_list, group="empty")).status_code == 303

    group_cells = _cells(_page(me.get("/schedules/week?group=north&week=2026-11-30")))
    assert group_cells[("2026-11-30", "12:00")] == "Group list"
    device_cells = _cells(_page(me.get(f"/schedules/week?device={till}&week=2026-11-30")))
    assert device_cells[("2026-11-30", "12:00")] == "Own list"
    empty = _page(me.get("/schedules/week?group=empty&week=2026-11-30"))
    assert "(UTC)" in empty.find("h2", id="week-title").text()
    assert "no device is in this group" in empty.find("p", class_="scope-note").text()


def test_the_device_page_week_still_renders_from_the_shared_grid(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    playlist_id = _playlist(api, admin, "Shared")
    till, _ = api.device(admin, "Till", groups=["north"])
    assert me.post("/schedules", _form(playlist_id)).status_code == 303
    page = _page(me.get(f"/devices/{till}?at=2026-11-30T23:30"))
    assert _cells(page)[("2026-11-30", "23:00")] == "Shared"


def test_refusals_are_shown_next_to_their_fields_and_nothing_is_stored(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    playlist_id = _playlist(api, admin)
    cases = {
        "start_time": _form(playlist_id, start_time="25:00"),
        "end_time": _form(playlist_id, end_time="22:00"),  # equal to the start
        "days": {k: v for k, v in _form(playlist_id).items() if k != "day_1"},
        "priority": _form(playlist_id, priority="high"),
        "valid_until": _form(
            playlist_id, valid_from="2026-12-02T10:00", valid_until="2026-12-01T10:00"
        ),
        "playlist_id": _form("pl_nothing"),
        "device_id": _form(playlist_id, target="device", device_id="dev_nothing"),
        "group": _form(playlist_id, group="  "),
        "target": _form(playlist_id, target="everywhere"),
    }
    for field, form in cases.items():
        page = _page(me.post("/schedules", form), 422)
        error = page.find("p", id=f"{field}-error")
        assert error.text(), field
        assert page.find("form", class_="schedule-form")  # the form again, as typed
    assert _schedules(api, admin) == []
    again = _page(me.post("/schedules", cases["priority"]), 422)
    assert again.find("input", id="schedule-priority").attrs["value"] == "high"


def test_an_edit_over_a_newer_version_says_changed_by_someone_else(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    playlist_id = _playlist(api, admin)
    assert me.post("/schedules", _form(playlist_id)).status_code == 303
    (stored,) = _schedules(api, admin)
    edit = _page(me.get(f"/schedules/{stored['id']}"))
    assert edit.find("input", id="schedule-start").attrs["value"] == "22:00"
    assert edit.find("input", type="hidden", name="version").attrs["value"] == "1"
    saved = me.post(f"/schedules/{stored['id']}", _form(playlist_id, version="1", priority="7"))
    assert saved.status_code == 303, saved.text
    stale = me.post(f"/schedules/{stored['id']}", _form(playlist_id, version="1", priority="8"))
    page = _page(stale, 409)
    assert "Changed by someone else — reload" in page.find("p", role="alert").text()
    assert _schedules(api, admin)[0]["priority"] == 7

    assert _page(me.post(f"/schedules/{stored['id']}/delete", {"version": "1"}), 409)
    deleted = me.post(f"/schedules/{stored['id']}/delete", {"version": "2"})
    assert deleted.status_code == 303
    assert _schedules(api, admin) == []


def test_a_viewer_sees_no_form_and_every_change_is_refused(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    playlist_id = _playlist(api, admin)
    made = api.call(
        "POST", "/v1/schedules", admin, json={"playlist_id": playlist_id, "target": {"all": True}}
    )
    schedule_id = made.json["id"]
    listing = _page(viewer.get("/schedules"))
    assert not listing.find_all("form", class_="schedule-form")
    assert not _page(viewer.get(f"/schedules/{schedule_id}")).find_all("button", class_="danger")
    for path in ("/schedules", f"/schedules/{schedule_id}", f"/schedules/{schedule_id}/delete"):
        assert viewer.post(path, _form(playlist_id, version="1")).status_code == 403, path
    assert len(_schedules(api, admin)) == 1


def test_without_csrf_a_change_is_refused(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    playlist_id = _playlist(api, admin)
    assert me.post("/schedules", _form(playlist_id), csrf=False).status_code == 403
    assert _schedules(api, admin) == []


def test_another_tenants_schedule_and_device_are_404_pages(api: Api, panel: Panel) -> None:
    me, _ = _signed_in(panel)
    _, other_admin = _signed_in(panel)
    playlist_id = _playlist(api, other_admin)
    till, _ = api.device(other_admin, "Their till")
    made = api.call(
        "POST",
        "/v1/schedules",
        other_admin,
        json={"playlist_id": playlist_id, "target": {"all": True}},
    )
    schedule_id = made.json["id"]
    _page(me.get(f"/schedules/{schedule_id}"), 404)
    _page(me.post(f"/schedules/{schedule_id}", _form(playlist_id, version="1")), 404)
    _page(me.post(f"/schedules/{schedule_id}/delete", {"version": "1"}), 404)
    _page(me.get(f"/schedules/week?device={till}"), 404)
    # Their playlist is not mine to schedule.
    refused = _page(me.post("/schedules", _form(playlist_id)), 422)
    assert refused.find("p", id="playlist_id-error")
    assert len(_schedules(api, other_admin)) == 1


def test_a_bad_week_query_is_a_clear_error(api: Api, panel: Panel) -> None:
    me, _ = _signed_in(panel)
    assert me.get("/schedules/week?group=a&week=someday").status_code == 422
    assert me.get("/schedules/week?group=a&device=b").status_code == 422
    assert _page(me.get("/schedules/week")).find("form", class_="filters")


def test_the_list_pages_by_keyset(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    playlist_id = _playlist(api, admin)
    for _ in range(55):
        body = {"playlist_id": playlist_id, "target": {"all": True}}
        assert api.call("POST", "/v1/schedules", admin, json=body).status_code == 201
    first = _page(me.get("/schedules"))
    assert len(table_rows(first, "schedules")) == 50
    next_url = first.find("a", rel="next").attrs["href"]
    assert len(table_rows(_page(me.get(str(next_url))), "schedules")) == 5


TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=120)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    group=TEXT,
    device_id=TEXT,
    start=TEXT,
    end=TEXT,
    valid_from=TEXT,
    valid_until=TEXT,
    priority=TEXT,
    playlist_id=st.one_of(st.none(), TEXT),
    target=st.sampled_from(["group", "device", "all", "x"]),
)
def test_hostile_form_input_never_500s_and_stores_only_valid_schedules(
    api: Api,
    panel: Panel,
    group: str,
    device_id: str,
    start: str,
    end: str,
    valid_from: str,
    valid_until: str,
    priority: str,
    playlist_id: str | None,
    target: str,
) -> None:
    me, admin = _signed_in(panel)
    real_playlist_id = _playlist(api, admin)
    form = _form(
        real_playlist_id if playlist_id is None else playlist_id,
        target=target,
        group=group,
        device_id=device_id,
        start_time=start,
        end_time=end,
        valid_from=valid_from,
        valid_until=valid_until,
        priority=priority,
    )
    answer = me.post("/schedules", form)
    assert answer.status_code in (303, 400, 422), answer.text
    for stored in _schedules(api, admin):
        assert stored["playlist_id"] == real_playlist_id
        assert stored["target"] in ({"all": True}, {"group": group.strip()})
        assert stored["start_time"] == start.strip()
    if answer.status_code == 422:
        assert answer.text.count("<script") == 1  # htmx's tag: the input is escaped
