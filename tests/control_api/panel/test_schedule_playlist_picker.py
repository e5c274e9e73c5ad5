"""The schedule form's playlist picker: any of the tenant's playlists, by name or id,
past the first 500, never another tenant's, never a 500 (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.store import repository as repo
from control_api.store.models import Playlist
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import Browser, Panel
from tests.control_api.panel.html import Element, parse

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _playlists(panel: Panel, tenant_id: str, names: list[str]) -> list[str]:
    """Playlists (no items: a schedule needs none) straight into the store: their ids."""
    rows = [
        Playlist(
            id=repo.new_id("pl"),
            tenant_id=tenant_id,
            name=name,
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        for name in names
    ]
    with panel.db.write() as s:
        s.add_all(rows)
    return [row.id for row in rows]


def _form(playlist: str) -> dict[str, str]:
    return {"playlist_id": playlist, "target": "all", "start_time": "08:00",
            "end_time": "12:00", "priority": "0", "day_1": "on"}  # fmt: skip


def _scheduled(api: Api, admin: str) -> list[str]:
    reply = api.call("GET", "/v1/schedules", admin)
    assert reply.status_code == 200, reply.text
    return [item["playlist_id"] for item in reply.json["items"]]


def _suggested(browser: Browser, typed: str) -> list[tuple[str, str]]:
    answer = browser.get("/schedules/playlists", params={"playlist_id": typed})
    assert answer.status_code == 200, answer.text
    options = parse(f"<datalist>{answer.text}</datalist>").find_all("option")
    return [(str(o.attrs["value"]), o.text()) for o in options]


def _page(answer: Any, status: int) -> Element:
    assert answer.status_code == status, answer.text
    return parse(answer.text)


def test_the_501st_playlist_is_found_and_scheduled(api: Api, panel: Panel) -> None:
    tenant_id, admin = panel.tenant()
    me = panel.signed_in("editor", tenant_id)
    ids = _playlists(panel, tenant_id, [f"List {n:04d}" for n in range(1, 502)])
    page = _page(me.get("/schedules"), 200)
    offered = page.find("datalist", id="schedule-playlists").find_all("option")
    assert len(offered) == 500 and ids[500] not in {o.attrs["value"] for o in offered}
    field = page.find("input", id="schedule-playlist")
    assert field.attrs["list"] == "schedule-playlists"
    assert field.attrs["hx-get"] == "/schedules/playlists"
    assert page.find("label", **{"for": "schedule-playlist"}).text() == "Playlist"
    assert "search every playlist as you type" in page.text()
    assert _suggested(me, "0501") == [(ids[500], "List 0501")]
    assert len(_suggested(me, "List")) == 50  # a page of suggestions, the first by name
    by_name = me.post("/schedules", _form("List 0501"))  # typed whole, no JavaScript
    assert by_name.status_code == 303, by_name.text
    by_id = me.post("/schedules", _form(ids[500]))  # picked from the suggestions
    assert by_id.status_code == 303, by_id.text
    assert _scheduled(api, admin) == [ids[500], ids[500]]


def test_a_shared_name_is_refused_and_the_id_tells_them_apart(api: Api, panel: Panel) -> None:
    tenant_id, admin = panel.tenant()
    me = panel.signed_in("editor", tenant_id)
    first, second = _playlists(panel, tenant_id, ["Morning", "Morning"])
    (single,) = _playlists(panel, tenant_id, ["Evening"])
    page = _page(me.post("/schedules", _form("Morning")), 422)
    error = page.find("p", id="playlist_id-error").text()
    assert "several playlists are named 'Morning'" in error
    assert page.find("input", id="schedule-playlist").attrs["value"] == "Morning"  # as typed
    assert _scheduled(api, admin) == []
    assert sorted(_suggested(me, "morn")) == sorted([(first, "Morning"), (second, "Morning")])
    assert me.post("/schedules", _form(second)).status_code == 303
    assert me.post("/schedules", _form("evening")).status_code == 303  # but for case
    assert sorted(_scheduled(api, admin)) == sorted([second, single])
    edit = _page(me.get(f"/schedules/{_schedule_id(api, admin, second)}"), 200)
    assert edit.find("p", id="playlist-help").find("strong").text() == "Morning"


def _schedule_id(api: Api, admin: str, playlist_id: str) -> str:
    reply = api.call("GET", "/v1/schedules", admin)
    return next(i["id"] for i in reply.json["items"] if i["playlist_id"] == playlist_id)


def test_another_tenants_playlist_is_never_suggested_or_scheduled(api: Api, panel: Panel) -> None:
    tenant_id, admin = panel.tenant()
    other_tenant, _ = panel.tenant("other")
    me = panel.signed_in("editor", tenant_id)
    (theirs,) = _playlists(panel, other_tenant, ["Their jingles"])
    assert _suggested(me, "jingles") == [] and _suggested(me, theirs) == []
    for typed in ("Their jingles", theirs):
        page = _page(me.post("/schedules", _form(typed)), 422)
        assert "no playlist is named" in page.find("p", id="playlist_id-error").text()
    assert _scheduled(api, admin) == []
    viewer = panel.signed_in("viewer", tenant_id)
    assert _suggested(viewer, "") == []  # a viewer may read the names; this tenant has none


HOSTILE = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=250),
    st.sampled_from(["\x00", "Morning\x00", "%", "_", "Morn%", "\\", "' OR 1=1 --", " " * 300]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(typed=HOSTILE)
def test_a_hostile_playlist_value_is_never_a_500(api: Api, panel: Panel, typed: str) -> None:
    tenant_id, admin = panel.tenant()
    me = panel.signed_in("editor", tenant_id)
    (morning,) = _playlists(panel, tenant_id, ["Morning"])
    answer = me.post("/schedules", _form(typed))
    assert answer.status_code in (303, 422), answer.text
    stored = _scheduled(api, admin)
    if answer.status_code == 303:  # only a value that names the one playlist
        assert typed.strip().lower() in ("morning", morning) and stored == [morning]
    else:
        assert stored == [] and parse(answer.text).find("p", id="playlist_id-error").text()
    suggestions = me.get("/schedules/playlists", params={"playlist_id": typed})
    assert suggestions.status_code in (200, 422), suggestions.text
    if suggestions.status_code == 200:
        assert suggestions.text.count("<option") <= 1
