"""The panel's Playlists section through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.panel.director import Role
from tests.control_api.conftest import Api
from tests.control_api.media_samples import png, wav
from tests.control_api.panel.conftest import Browser, Panel
from tests.control_api.panel.html import Element, parse, table_rows


def _signed_in(panel: Panel, role: Role = "editor") -> tuple[Browser, str]:
    tenant_id, admin = panel.tenant()
    return panel.signed_in(role, tenant_id), admin


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _playlist(api: Api, admin: str, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    made = api.call("POST", "/v1/playlists", admin, json={"name": name, "items": items})
    assert made.status_code == 201, made.text
    return dict(made.json)


def _stored(api: Api, admin: str, playlist_id: str) -> dict[str, Any]:
    return dict(api.call("GET", f"/v1/playlists/{playlist_id}", admin).json)


def _editor_form(page: Element) -> dict[str, str]:
    """The editor's fields as the browser would post them, in page order."""
    form = page.find("form", id="editor")
    fields = {}
    for element in form.iter():
        name = element.attrs.get("name")
        if element.tag == "input" and name and element.attrs.get("type") != "search":
            fields[str(name)] = element.attrs.get("value") or ""
    return fields


def _titles(page: Element) -> list[str]:
    items = page.find_all("ol", id="playlist-items")
    if not items:
        return []
    return [li.find("span", class_="item-title").text() for li in items[0].find_all("li")]


def test_create_add_from_the_library_reorder_set_durations_and_save(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"a", min_samples=16000), title="Morning song").json
    poster = api.upload(admin, png(b"p"), "image/png", title="Sale poster").json
    api.upload(admin, wav(b"b"), title="Evening song")

    created = me.post("/playlists", {"name": "  Shop floor "})
    assert created.status_code == 303
    location = created.headers["location"]
    editor = _page(me.get(location))
    assert editor.find("h1").text() == "Shop floor"
    assert "created" in editor.find("p", role="status").text()

    # The search finds by title or file name, case-insensitive, as a fragment.
    found = _page(
        me.get(location.split("?")[0] + "/library?q=SONG", headers={"HX-Request": "true"})
    )
    assert {li.attrs["data-asset"] for li in found.find_all("li")} >= {song["id"]}
    assert poster["id"] not in {li.attrs["data-asset"] for li in found.find_all("li")}
    assert not found.find_all("html")

    path = location.split("?")[0]
    form = _editor_form(editor)
    after_add = _page(me.post(path, form | {"add": song["id"]}))
    after_add = _page(me.post(path, _editor_form(after_add) | {"add": poster["id"]}))
    assert _titles(after_add) == ["Morning song", "Sale poster"]
    assert "Not saved yet" in after_add.text()
    assert _stored(api, admin, path.rsplit("/", 1)[1])["items"] == []  # nothing saved yet

    fields = _editor_form(after_add)
    moved = _page(me.post(path, fields | {"up": "1"}))
    assert _titles(moved) == ["Sale poster", "Morning song"]
    fields = _editor_form(moved) | {"item-0-duration_s": "7.5"}
    assert me.post(path, fields | {"save": "1"}).status_code == 303

    stored = _stored(api, admin, path.rsplit("/", 1)[1])
    assert stored["items"] == [
        {"asset_id": poster["id"], "duration_ms": 7500},
        {"asset_id": song["id"], "duration_ms": None},
    ]
    saved = _page(me.get(path))
    assert _titles(saved) == ["Sale poster", "Morning song"]
    assert saved.find("strong", data_total="total").text() == "10 s"  # 7.5 s + 2 s of song, rounded
    listing = table_rows(_page(me.get("/playlists")), "playlists")
    assert [(r["Name"], r["Items"]) for r in listing] == [("Shop floor", "2")]


def test_the_posted_order_is_the_saved_order_and_remove_drops_an_item(
    api: Api, panel: Panel
) -> None:
    """A drag and drop moves the rows' fields: the body's order is the order saved."""
    me, admin = _signed_in(panel)
    a = api.upload(admin, png(b"a"), "image/png", title="A").json
    b = api.upload(admin, png(b"b"), "image/png", title="B").json
    c = api.upload(admin, png(b"c"), "image/png", title="C").json
    made = _playlist(api, admin, "Three", [{"asset_id": x["id"]} for x in (a, b, c)])
    path = f"/playlists/{made['id']}"
    base = {"name": "Three", "version": str(made["version"])}
    dragged = base | {"item-2-asset": c["id"], "item-0-asset": a["id"], "item-1-asset": b["id"]}
    assert me.post(path, dragged | {"save": "1"}).status_code == 303
    assert [i["asset_id"] for i in _stored(api, admin, made["id"])["items"]] == [
        c["id"],
        a["id"],
        b["id"],
    ]
    page = _page(me.get(path))
    assert page.find("strong", data_total="total").text() == "30 s"  # images default to 10 s
    removed = _page(me.post(path, _editor_form(page) | {"remove": "1"}))
    assert _titles(removed) == ["C", "B"]


def test_an_edit_conflict_shows_the_reload_message_and_overwrites_nothing(
    api: Api, panel: Panel
) -> None:
    tenant_id, admin = panel.tenant()
    first = panel.signed_in("editor", tenant_id, "one@shop.example")
    second = panel.signed_in("editor", tenant_id, "two@shop.example")
    a = api.upload(admin, png(b"a"), "image/png", title="A").json
    made = _playlist(api, admin, "Shared", [{"asset_id": a["id"]}])
    path = f"/playlists/{made['id']}"
    mine = _editor_form(_page(first.get(path)))
    theirs = _editor_form(_page(second.get(path)))

    assert first.post(path, mine | {"name": "First's", "save": "1"}).status_code == 303
    refused = _page(second.post(path, theirs | {"name": "Second's", "save": "1"}), 412)
    alert = refused.find("p", class_="conflict")
    assert "Changed by someone else — reload" in alert.text()
    assert alert.find("a").attrs["href"] == path
    assert refused.find("input", id="playlist-name").attrs["value"] == "Second's"  # kept
    assert _stored(api, admin, made["id"])["name"] == "First's"


def test_bad_durations_and_names_are_422_naming_them_and_store_nothing(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    a = api.upload(admin, png(b"a"), "image/png", title="A").json
    made = _playlist(api, admin, "Kept", [{"asset_id": a["id"], "duration_ms": 5000}])
    path = f"/playlists/{made['id']}"
    form = _editor_form(_page(me.get(path)))
    for change, named in [
        ({"item-0-duration_s": "0.5"}, "items[0].duration_s"),
        ({"item-0-duration_s": "ten"}, "items[0].duration_s"),
        ({"name": "   "}, "name"),
        ({"item-0-asset": "ast_nope"}, "items[0].asset_id"),
    ]:
        page = _page(me.post(path, form | change | {"save": "1"}), 422)
        assert page.find("p", role="alert").text().startswith(named), change
    assert _stored(api, admin, made["id"])["items"] == [{"asset_id": a["id"], "duration_ms": 5000}]
    assert _stored(api, admin, made["id"])["version"] == made["version"]


def test_delete_asks_first_and_a_scheduled_playlist_is_refused_clearly(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    kept = _playlist(api, admin, "Scheduled", [])
    gone = _playlist(api, admin, "Old", [])
    schedule = {"playlist_id": kept["id"], "target": {"all": True}}
    assert api.call("POST", "/v1/schedules", admin, json=schedule).status_code == 201

    asked = _page(me.post(f"/playlists/{gone['id']}/delete", {}))
    assert "Delete “Old”?" in asked.text()
    assert _stored(api, admin, gone["id"])["name"] == "Old"
    done = me.post(f"/playlists/{gone['id']}/delete", {"confirm": "yes", "version": "1"})
    assert (done.status_code, done.headers["location"]) == (303, "/playlists?done=deleted")
    assert api.call("GET", f"/v1/playlists/{gone['id']}", admin).status_code == 404

    refused = _page(
        me.post(f"/playlists/{kept['id']}/delete", {"confirm": "yes", "version": "1"}), 409
    )
    assert "a schedule uses this playlist" in refused.find("p", role="alert").text()


def test_a_viewer_sees_no_change_controls_and_every_change_is_403(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    a = api.upload(admin, png(b"a"), "image/png", title="A").json
    made = _playlist(api, admin, "Read only", [{"asset_id": a["id"]}])
    path = f"/playlists/{made['id']}"
    for page in (_page(viewer.get("/playlists")), _page(viewer.get(path))):
        assert not page.find_all("form", method="post", action="/playlists")
        assert not page.find_all("form", id="editor")
        assert not [b for b in page.find_all("button") if b.text() != "Sign out"]
    assert _titles(_page(viewer.get(path))) == ["A"]
    for target, form in [
        ("/playlists", {"name": "x"}),
        (path, {"name": "x", "version": "1", "save": "1"}),
        (f"{path}/delete", {"confirm": "yes", "version": "1"}),
    ]:
        assert viewer.post(target, form).status_code == 403, target
    assert _stored(api, admin, made["id"])["name"] == "Read only"


def test_another_tenants_playlist_is_a_404_page_and_csrf_is_required(
    api: Api, panel: Panel
) -> None:
    me, _ = _signed_in(panel)
    _, other_admin = panel.tenant("other")
    theirs = _playlist(api, other_admin, "Theirs", [])
    path = f"/playlists/{theirs['id']}"
    for answer in (
        me.get(path),
        me.get(f"{path}/library"),
        me.post(path, {"name": "Mine", "version": "1", "save": "1"}),
        me.post(f"{path}/delete", {"confirm": "yes", "version": "1"}),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
    assert _stored(api, other_admin, theirs["id"])["name"] == "Theirs"
    assert me.post("/playlists", {"name": "x"}, csrf=False).status_code == 403


def test_adding_an_asset_of_another_tenant_is_refused(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    _, other_admin = panel.tenant("other")
    foreign = api.upload(other_admin, png(b"f"), "image/png", title="Foreign").json
    made = _playlist(api, admin, "Mine", [])
    path = f"/playlists/{made['id']}"
    page = _page(me.post(path, _editor_form(_page(me.get(path))) | {"add": foreign["id"]}), 422)
    assert page.find("p", role="alert").text().startswith("add")
    assert _titles(page) == []


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=st.text(max_size=250), duration=st.text(max_size=30), query=st.text(max_size=250))
def test_hostile_form_input_never_500s_and_stores_only_valid_values(
    api: Api, panel: Panel, name: str, duration: str, query: str
) -> None:
    me, admin = _signed_in(panel)
    a = api.upload(admin, png(b"a"), "image/png", title="A").json
    made = _playlist(api, admin, "Start", [{"asset_id": a["id"]}])
    path = f"/playlists/{made['id']}"
    form = {"name": name, "version": "1", "item-0-asset": a["id"], "item-0-duration_s": duration}
    answer = me.post(path, form | {"q": query, "save": "1"})
    assert answer.status_code in (303, 400, 422), answer.text
    stored = _stored(api, admin, made["id"])
    if answer.status_code == 303:
        assert stored["name"] == name.strip() and stored["name"]
        cap = stored["items"][0]["duration_ms"]
        assert cap is None or cap >= 1000
    else:
        assert stored["name"] == "Start"
    assert me.get(f"{path}/library", params={"q": query}).status_code in (200, 422)
    created = me.post("/playlists", {"name": name})
    assert created.status_code in (303, 400, 422), created.text
