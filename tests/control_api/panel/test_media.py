"""The panel's Media section through the real app (SQLite and PostgreSQL)."""

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
    """A director of a new tenant signed in through /login, and the tenant's admin token."""
    tenant_id, admin = panel.tenant()
    return panel.signed_in(role, tenant_id), admin


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _rows(browser: Browser, query: str = "") -> list[dict[str, str]]:
    page = _page(browser.get("/media" + query))
    return table_rows(page, "media") if page.find_all("table", class_="media") else []


def _upload(
    browser: Browser, data: bytes, filename: str, content_type: str = "audio/wav", **kw: Any
) -> Any:
    """What panel-upload.js sends: the raw file, its type, the CSRF header."""
    headers = {"Content-Type": content_type, "X-CSRF-Token": browser.csrf_token}
    headers |= kw.pop("headers", {})
    return browser.request(
        "POST", "/media/upload", params={"filename": filename}, body=data, headers=headers, **kw
    )


def _playlist(api: Api, admin: str, name: str, asset_id: str) -> str:
    made = api.call(
        "POST", "/v1/playlists", admin, json={"name": name, "items": [{"asset_id": asset_id}]}
    )
    assert made.status_code == 201, made.text
    return str(made.json["id"])


def test_an_upload_is_added_then_already_in_the_library(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    first = _upload(me, wav(b"song"), "song.wav")
    assert first.status_code == 201, first.text
    outcome = parse(first.text).find("p", class_="upload-outcome")
    assert outcome.attrs["data-outcome"] == "added" and "added" in outcome.text()
    again = _upload(me, wav(b"song"), "copy.wav")
    assert again.status_code == 200
    outcome = parse(again.text).find("p", class_="upload-outcome")
    assert outcome.attrs["data-outcome"] == "existing"
    assert "already in the library" in outcome.text()
    listed = api.call("GET", "/v1/assets", admin).json["items"]
    assert [(a["filename"], a["media_type"]) for a in listed] == [("song.wav", "audio")]


def test_a_refused_upload_says_what_the_api_says_and_stores_nothing(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    wrong_type = _upload(me, b"hello", "notes.txt", "text/plain")
    assert wrong_type.status_code == 415
    assert "Content-Type must be one of" in _page(wrong_type, 415).find("p", role="alert").text()
    not_media = _upload(me, b"just some text, not audio", "fake.wav")
    assert not_media.status_code == 415, not_media.text
    empty = _upload(me, b"", "empty.wav", headers={"Content-Length": "0"})
    assert empty.status_code == 400
    assert api.call("GET", "/v1/assets", admin).json["items"] == []


def test_the_library_lists_searches_and_pages(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    api.upload(admin, wav(b"a"), title="Morning 100% fresh", filename="a.wav")
    api.upload(admin, wav(b"b"), filename="evening_mix.wav")
    api.upload(admin, png(b"c"), "image/png", title="Poster")
    rows = _rows(me)
    assert sorted(r["Title"] for r in rows) == ["Morning 100% fresh", "Poster", "evening_mix.wav"]
    poster = next(r for r in rows if r["Title"] == "Poster")
    assert (poster["data-type"], poster["Duration"], poster["Emergency"]) == ("image", "—", "no")
    assert [r["Title"] for r in _rows(me, "?q=MORNING")] == ["Morning 100% fresh"]
    assert [r["Title"] for r in _rows(me, "?q=100%25")] == ["Morning 100% fresh"]
    assert [r["Title"] for r in _rows(me, "?q=g_m")] == ["evening_mix.wav"]  # _ is literal
    assert _rows(me, "?q=g%25m") == []  # % is literal
    fragment = me.get("/media?q=poster", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "Poster" in fragment.text


def test_the_library_pages_by_fifty(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    for n in range(51):
        assert api.upload(admin, wav(b"n%d" % n)).status_code == 201
    page = _page(me.get("/media"))
    assert len(table_rows(page, "media")) == 50
    following = page.find("a", rel="next").attrs["href"]
    assert len(_rows(me, str(following).removeprefix("/media"))) == 1


def test_the_asset_page_previews_from_a_range_served_file(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    data = wav(b"tune")
    song = api.upload(admin, data, title="Tune").json
    picture = api.upload(admin, png(b"pic"), "image/png").json
    page = _page(me.get(f"/media/{song['id']}"))
    assert page.find("audio").attrs["src"] == f"/media/{song['id']}/file"
    assert _page(me.get(f"/media/{picture['id']}")).find("img").attrs["src"].endswith("/file")
    whole = me.get(f"/media/{song['id']}/file")
    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["content-type"] == "audio/wav"
    part = me.get(f"/media/{song['id']}/file", headers={"Range": "bytes=4-11"})
    assert (part.status_code, part.content) == (206, data[4:12])
    assert part.headers["content-range"] == f"bytes 4-11/{len(data)}"
    assert panel.browser().get(f"/media/{song['id']}/file").status_code == 303  # signed out


def test_an_edit_saves_title_window_in_utc_and_emergency(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"x"), filename="x.wav").json
    form = {
        "title": "  Summer sale  ",
        "valid_from": "2026-06-01T09:00",
        "valid_until": "2026-06-30T18:30",
        "emergency": "yes",
    }
    done = me.post(f"/media/{song['id']}", form)
    assert (done.status_code, done.headers["location"]) == (303, f"/media/{song['id']}?done=saved")
    stored = api.call("GET", f"/v1/assets/{song['id']}", admin).json
    assert stored["title"] == "Summer sale" and stored["emergency"] is True
    assert (stored["valid_from"], stored["valid_until"]) == (
        "2026-06-01T09:00:00Z",
        "2026-06-30T18:30:00Z",
    )
    page = _page(me.get(done.headers["location"]))
    assert page.find("input", name="valid_from").attrs["value"] == "2026-06-01T09:00"
    assert "checked" in page.find("input", name="emergency").attrs
    cleared = me.post(f"/media/{song['id']}", {"title": "", "valid_from": "", "valid_until": ""})
    assert cleared.status_code == 303
    stored = api.call("GET", f"/v1/assets/{song['id']}", admin).json
    assert (stored["title"], stored["valid_from"], stored["emergency"]) == (None, None, False)


def test_a_bad_edit_names_the_field_and_changes_nothing(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"x"), title="Kept").json
    form = {"title": "New", "valid_from": "2026-06-02T00:00", "valid_until": "2026-06-01T00:00"}
    page = _page(me.post(f"/media/{song['id']}", form), 422)
    assert "after valid_from" in page.find("p", id="valid-until-problem").text()
    assert page.find("input", name="title").attrs["value"] == "New"  # what was typed stays
    bad = _page(me.post(f"/media/{song['id']}", {"valid_from": "soon"}), 422)
    assert "YYYY-MM-DDTHH:MM" in bad.find("p", id="valid-from-problem").text()
    assert api.call("GET", f"/v1/assets/{song['id']}", admin).json["title"] == "Kept"


def test_delete_asks_first_and_names_the_playlists_that_use_it(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    used = api.upload(admin, wav(b"used")).json
    free = api.upload(admin, wav(b"free")).json
    _playlist(api, admin, "Mornings", used["id"])
    _playlist(api, admin, "Evenings", used["id"])
    asked = _page(me.post(f"/media/{used['id']}/delete"))
    assert [li.text() for li in asked.find("ul", class_="used-by").find_all("li")] == [
        "Evenings",
        "Mornings",
    ]
    refused = _page(me.post(f"/media/{used['id']}/delete", {"confirm": "yes"}), 409)
    assert "Mornings" in refused.find("ul", class_="used-by").text()
    assert api.call("GET", f"/v1/assets/{used['id']}", admin).status_code == 200
    confirm = _page(me.post(f"/media/{free['id']}/delete")).find("form", class_="confirm")
    assert confirm.find("input", name="confirm").attrs["value"] == "yes"
    done = me.post(f"/media/{free['id']}/delete", {"confirm": "yes"})
    assert (done.status_code, done.headers["location"]) == (303, "/media?done=deleted")
    assert api.call("GET", f"/v1/assets/{free['id']}", admin).status_code == 404


def test_a_viewer_sees_no_change_controls_and_every_change_is_403(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    song = api.upload(admin, wav(b"v"), title="Kept").json
    library = _page(viewer.get("/media"))
    assert not library.find_all("input", type="file") and not library.find_all("script", src="x")
    assert "panel-upload" not in viewer.get("/media").text
    page = _page(viewer.get(f"/media/{song['id']}"))
    assert page.find_all("audio") and not page.find_all("form", method="post", class_="edit-asset")
    assert not page.find_all("button", class_="danger")
    assert _upload(viewer, wav(b"new"), "new.wav").status_code == 403
    assert viewer.post(f"/media/{song['id']}", {"title": "Changed"}).status_code == 403
    assert viewer.post(f"/media/{song['id']}/delete", {"confirm": "yes"}).status_code == 403
    stored = api.call("GET", "/v1/assets", admin).json["items"]
    assert [a["title"] for a in stored] == ["Kept"]


def test_a_change_without_the_csrf_token_is_403(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"c"), title="Kept").json
    assert _upload(me, wav(b"new"), "n.wav", headers={"X-CSRF-Token": ""}).status_code == 403
    assert me.post(f"/media/{song['id']}", {"title": "X"}, csrf=False).status_code == 403
    assert me.post(f"/media/{song['id']}/delete", {"confirm": "yes"}, csrf=False).status_code == 403
    assert [a["title"] for a in api.call("GET", "/v1/assets", admin).json["items"]] == ["Kept"]


def test_another_tenants_assets_are_404_pages(api: Api, panel: Panel) -> None:
    me, _ = _signed_in(panel)
    theirs = panel.tenant("theirs")[1]
    other = api.upload(theirs, wav(b"theirs"), title="Theirs").json
    assert _rows(me) == [] and _rows(me, "?q=Theirs") == []
    for path in (f"/media/{other['id']}", f"/media/{other['id']}/file"):
        assert "Theirs" not in _page(me.get(path), 404).text()
    assert me.post(f"/media/{other['id']}", {"title": "Mine"}).status_code == 404
    assert me.post(f"/media/{other['id']}", {"valid_from": "bad"}).status_code == 404
    assert me.post(f"/media/{other['id']}/delete").status_code == 404
    assert me.post(f"/media/{other['id']}/delete", {"confirm": "yes"}).status_code == 404
    assert api.call("GET", f"/v1/assets/{other['id']}", theirs).json["title"] == "Theirs"
    # The same bytes in my tenant are my own new asset, not theirs.
    assert _upload(me, wav(b"theirs"), "mine.wav").status_code == 201


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=_TEXT, valid_from=_TEXT, valid_until=_TEXT, q=_TEXT, filename=_TEXT)
def test_hostile_text_never_gives_a_500_nor_stores_anything_wrong(
    api: Api, panel: Panel, title: str, valid_from: str, valid_until: str, q: str, filename: str
) -> None:
    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"h"), title="Kept").json
    form = {"title": title, "valid_from": valid_from, "valid_until": valid_until}
    edited = me.post(f"/media/{song['id']}", form)
    assert edited.status_code in (303, 422), edited.text
    stored = api.call("GET", f"/v1/assets/{song['id']}", admin).json
    if edited.status_code == 303:
        assert stored["title"] == (title.strip() or None)
    else:
        assert stored["title"] == "Kept"
        if "<" in title:  # escaped when shown: the raw text is only where markup has it anyway
            shell = me.post(f"/media/{song['id']}", {"title": "Kept", "valid_from": "bad"})
            assert shell.status_code == 422
            assert title not in edited.text or title in shell.text
    assert me.get("/media", params={"q": q}).status_code in (200, 422)
    uploaded = _upload(me, wav(b"h2"), filename)
    assert uploaded.status_code in (200, 201, 422), uploaded.text
    if uploaded.status_code in (200, 201):
        new = parse(uploaded.text).find("p", class_="upload-outcome").attrs["data-asset"]
        assert api.call("GET", f"/v1/assets/{new}", admin).json["filename"] == (filename or None)


def test_the_asset_page_shows_the_measuring_then_the_loudness(api: Api, panel: Panel) -> None:
    from datetime import UTC, datetime

    from control_api.core.loudness import Measurement
    from control_api.services import measurements

    me, admin = _signed_in(panel)
    song = api.upload(admin, wav(b"loud")).json
    picture = api.upload(admin, png(b"quiet"), "image/png").json
    assert _page(me.get(f"/media/{song['id']}")).find("dd", **{"class": "loudness"}).text() == (
        "Measuring…"
    )
    assert "Loudness" not in me.get(f"/media/{picture['id']}").text
    now = datetime.now(UTC)
    claimed = measurements.claim(api.db, owner="msr_t", now=now)
    assert claimed is not None
    measured = Measurement(-14.25, -1.04, 500, 181_200, 182_000)
    kw = {"owner": "msr_t", "measurement": measured, "now": now, "keep_revisions": 100}
    assert measurements.record_measurement(api.db, claimed, **kw) == "measured"
    shown = _page(me.get(f"/media/{song['id']}")).find("dd", **{"class": "loudness"}).text()
    assert shown == "-14.2 LUFS, true peak -1.0 dBTP, sound 0.50 s to 181.20 s"
