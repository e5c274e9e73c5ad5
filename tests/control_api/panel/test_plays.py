"""The panel's Plays section through the real app (SQLite and PostgreSQL): the counts
of a range of UTC days as charts and tables, and the range's CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.services import plays as play_service
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.control_api.panel.conftest import Browser, Panel
from tests.control_api.panel.html import Element, parse, table_rows

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _play(asset: dict[str, Any], started_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "asset_id": asset["id"],
        "sha256": asset["sha256"],
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
        "ended_at": (started_at + timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        "source": "playlist",
        "outcome": "completed",
        **extra,
    }


def _send(api: Api, token: str, plays: list[dict[str, Any]]) -> None:
    for i in range(0, len(plays), 1000):
        answer = api.call("POST", "/v1/device/plays", token, json={"plays": plays[i : i + 1000]})
        assert answer.status_code == 200 and not answer.json["rejected"], answer.text


def _shop(api: Api, panel: Panel, role: str = "viewer") -> tuple[Browser, dict[str, Any]]:
    """A tenant with two assets and two devices that played them; a director signed in.

    Till 1 plays "Morning song" 3 times on Mon 30 Nov and "Jingle" once on Tue 1 Dec;
    Till 2 plays "Morning song" twice on Tue 1 Dec; one play 8 days ago is outside
    the default range.
    """
    panel.clock.at = NOW
    tenant_id, admin = panel.tenant()
    me = panel.signed_in(role, tenant_id)  # type: ignore[arg-type]
    song = api.upload(admin, wav(b"song"), title="Morning song").json
    jingle = api.upload(admin, wav(b"jingle"), title="Jingle").json
    till_1, token_1 = api.device(admin, "Till 1")
    till_2, token_2 = api.device(admin, "Till 2")
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    _send(api, token_1, [_play(song, monday + timedelta(hours=h)) for h in range(3)])
    _send(api, token_1, [_play(jingle, datetime(2026, 12, 1, 23, 59, tzinfo=UTC))])
    _send(api, token_2, [_play(song, monday + timedelta(days=1, hours=h)) for h in (0, 5)])
    _send(api, token_2, [_play(song, NOW - timedelta(days=8))])
    ids = {"song": song, "jingle": jingle, "till_1": till_1, "till_2": till_2, "admin": admin}
    return me, ids


def _bars(page: Element, chart: str) -> dict[str, int]:
    svg = page.find("svg", data_chart=chart)
    return {str(g.attrs["data-key"]): int(str(g.attrs["data-plays"])) for g in svg.find_all("g")}


def test_the_page_counts_the_last_seven_days_per_day_asset_and_device(
    api: Api, panel: Panel
) -> None:
    me, ids = _shop(api, panel)
    page = _page(me.get("/plays"))

    per_day = table_rows(page, "plays-per-day")
    assert [r["data-key"] for r in per_day] == [
        f"2026-{d}" for d in ("11-26", "11-27", "11-28", "11-29", "11-30", "12-01", "12-02")
    ]
    assert [r["Plays"] for r in per_day] == ["0", "0", "0", "0", "3", "3", "0"]
    assert per_day[4]["Day"] == "Mon 30 Nov"
    assert _bars(page, "per-day")["2026-11-30"] == 3  # the chart draws the table's numbers
    assets = table_rows(page, "plays-top-assets")
    assert [(r["Asset"], r["Plays"]) for r in assets] == [("Morning song", "5"), ("Jingle", "1")]
    assert assets[0]["Id"] == ids["song"]["id"]
    assert _bars(page, "top-assets") == {ids["song"]["id"]: 5, ids["jingle"]["id"]: 1}
    devices = table_rows(page, "plays-top-devices")
    assert [(r["Device"], r["Plays"]) for r in devices] == [("Till 1", "4"), ("Till 2", "2")]
    bar = page.find("svg", data_chart="top-devices").find("g")
    assert bar.find("title").text() == "Till 1: 4 plays"
    summary = page.find("p", id="plays-range").text()
    assert "6 plays" in summary and "last 7 days" in summary and "UTC" in summary
    assert page.find("a", download="plays-2026-11-26-to-2026-12-02.csv")


def test_a_range_counts_its_days_only_and_an_empty_one_says_so(api: Api, panel: Panel) -> None:
    me, _ = _shop(api, panel)
    tuesday = _page(me.get("/plays?from=2026-12-01&to=2026-12-01"))
    assert [r["Plays"] for r in table_rows(tuesday, "plays-per-day")] == ["3"]
    assert [(r["Device"], r["Plays"]) for r in table_rows(tuesday, "plays-top-devices")] == [
        ("Till 2", "2"),
        ("Till 1", "1"),  # the jingle at 23:59 UTC is still Tuesday
    ]
    assert "last 7 days" not in tuesday.find("p", id="plays-range").text()
    month = _page(me.get("/plays?from=2026-11-01&to=2026-11-30"))
    assert len(table_rows(month, "plays-per-day")) == 30
    assert sum(_bars(month, "per-day").values()) == 4  # Monday's 3 and the play 8 days ago
    empty = _page(me.get("/plays?from=2025-01-01&to=2025-01-07"))
    assert "No asset was played" in empty.text() and "No device played" in empty.text()


def test_a_bad_range_is_a_422_page_naming_the_field(api: Api, panel: Panel) -> None:
    me, _ = _shop(api, panel)
    for query, named in [
        ("?from=2026-12-05&to=2026-12-01", "from"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
        ("?from=2026-12-1", "from"),
        ("?from=2024-01-01&to=2026-12-01", "to"),
        ("?from=2026-12-01&from=2026-12-02", "from"),
    ]:
        page = _page(me.get("/plays" + query), 422)
        assert page.find("p", role="alert").text().startswith(named), query
        assert me.get("/plays.csv" + query).status_code == 422, query


def _csv(answer: Any) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def test_the_csv_has_titles_and_names_beside_the_ids(api: Api, panel: Panel) -> None:
    me, ids = _shop(api, panel)
    answer = me.get("/plays.csv?from=2026-11-30&to=2026-12-01")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment") and "plays-2026-11-30-to-2026-12-01.csv" in (
        disposition
    )
    rows = _csv(answer)
    assert [(r["asset_title"], r["device_name"]) for r in rows] == [
        ("Morning song", "Till 1"),
        ("Morning song", "Till 1"),
        ("Morning song", "Till 1"),
        ("Morning song", "Till 2"),
        ("Morning song", "Till 2"),
        ("Jingle", "Till 1"),
    ]  # oldest first
    assert rows[0]["asset_id"] == ids["song"]["id"] and rows[0]["device_id"] == ids["till_1"]
    assert rows[0]["started_at"] == "2026-11-30T09:00:00Z"
    assert rows[0]["outcome"] == "completed" and rows[0]["sha256"] == ids["song"]["sha256"]
    default = _csv(me.get("/plays.csv"))
    assert len(default) == 6  # the page's default range


def test_csv_cells_are_quoted_and_never_formulas(api: Api, panel: Panel) -> None:
    panel.clock.at = NOW
    tenant_id, admin = panel.tenant()
    me = panel.signed_in("viewer", tenant_id)
    tricky = api.upload(admin, wav(b"x"), title='=HYPERLINK("http://x","a, b")').json
    _, token = api.device(admin, "@SUM(A1)")
    _send(api, token, [_play(tricky, NOW - timedelta(hours=1), schedule_id="-2+3")])
    rows = _csv(me.get("/plays.csv"))
    assert rows[0]["asset_title"] == '\'=HYPERLINK("http://x","a, b")'
    assert rows[0]["device_name"] == "'@SUM(A1)"
    assert rows[0]["schedule_id"] == "'-2+3"
    page = _page(me.get("/plays"))
    assert table_rows(page, "plays-top-devices")[0]["Device"] == "@SUM(A1)"  # escaped HTML


def test_the_csv_streams_every_play_page_after_page(api: Api, panel: Panel) -> None:
    panel.clock.at = NOW
    tenant_id, admin = panel.tenant()
    me = panel.signed_in("viewer", tenant_id)
    song = api.upload(admin, wav(b"song"), title="Song").json
    device_id, _ = api.device(admin, "Till")
    count = play_service.EXPORT_PAGE + 5
    start = NOW - timedelta(days=1)
    # Same started_at for a whole page: the keyset's id breaks the tie. The use case
    # the device API calls, directly: the test app caps JSON bodies at 4 KB.
    batch = [_play(song, start + timedelta(seconds=i // 600)) for i in range(count)]
    for i in range(0, count, play_service.MAX_PLAYS):
        chunk = batch[i : i + play_service.MAX_PLAYS]
        done = play_service.ingest(panel.db, tenant_id, device_id, chunk, NOW)
        assert done.accepted == len(chunk)
    pages = list(play_service.export_named_plays(panel.db, tenant_id, start.date(), NOW.date()))
    assert [len(p) for p in pages] == [play_service.EXPORT_PAGE, 5]
    rows = _csv(me.get("/plays.csv"))
    assert len({r["play_id"] for r in rows}) == count
    assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)
    assert table_rows(_page(me.get("/plays")), "plays-top-assets")[0]["Plays"] == str(count)


def test_another_tenants_plays_never_appear(api: Api, panel: Panel) -> None:
    _, ids = _shop(api, panel)
    other = panel.signed_in("admin")  # another tenant, no plays
    page = _page(other.get("/plays?from=2026-11-01&to=2026-12-02"))
    assert sum(_bars(page, "per-day").values()) == 0
    assert ids["song"]["id"] not in page.text() and "Till 1" not in page.text()
    assert _csv(other.get("/plays.csv?from=2026-11-01&to=2026-12-02")) == []


def test_a_deleted_asset_is_counted_under_its_id(api: Api, panel: Panel) -> None:
    me, ids = _shop(api, panel)
    jingle = ids["jingle"]["id"]
    assert api.call("DELETE", f"/v1/assets/{jingle}", ids["admin"]).status_code == 204
    assets = table_rows(_page(me.get("/plays")), "plays-top-assets")
    assert (assets[1]["Asset"], assets[1]["Plays"]) == (jingle, "1")
    rows = _csv(me.get("/plays.csv"))
    assert [r["asset_title"] for r in rows if r["asset_id"] == jingle] == [""]


def test_without_a_session_the_pages_send_to_sign_in(api: Api, panel: Panel) -> None:
    stranger = panel.browser()
    for path in ("/plays", "/plays.csv?from=2026-12-01"):
        answer = stranger.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_plays_are_read_only_for_every_role(api: Api, panel: Panel) -> None:
    viewer, _ = _shop(api, panel)
    page = _page(viewer.get("/plays"))
    assert not page.find_all("form", method="post")[1:]  # only "Sign out"
    assert viewer.post("/plays", {}, csrf=False).status_code == 403
    editor = panel.signed_in("editor", viewer.director.tenant_id if viewer.director else None)
    assert editor.post("/plays", {}).status_code == 405


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=st.text(max_size=40), last=st.text(max_size=40))
def test_hostile_range_text_never_breaks_the_pages(
    api: Api, panel: Panel, first: str, last: str
) -> None:
    me = panel.signed_in("viewer")
    for path in ("/plays", "/plays.csv"):
        answer = me.get(path, params={"from": first, "to": last})
        assert answer.status_code in (200, 422), (first, last, answer.text)
