"""Adding a device and editing one from the panel (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.core.proxies import parse_networks
from control_api.core.validation import parse_timezone
from control_api.errors import InvalidField
from control_api.panel.device_forms import group_names, timezone_names
from control_api.panel.director import Role
from tests.control_api.conftest import Api
from tests.control_api.panel.conftest import Browser, Clock, Panel, make_panel_api
from tests.control_api.panel.html import Element, parse


def _signed_in(panel: Panel, role: Role = "editor") -> tuple[Browser, str]:
    tenant_id, admin = panel.tenant()
    return panel.signed_in(role, tenant_id), admin


def _page(answer: Any, status: int = 200) -> Element:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def _devices(api: Api, admin: str) -> list[dict[str, Any]]:
    listed = api.call("GET", "/v1/devices", admin, params={"limit": "100"})
    assert listed.status_code == 200, listed.text
    return sorted(listed.json["items"], key=lambda d: d["id"])


def _made(api: Api, admin: str, name: str = "Till", **fields: Any) -> dict[str, Any]:
    made = api.call("POST", "/v1/devices", admin, json={"name": name, **fields})
    assert made.status_code == 201, made.text
    return dict(made.json)


def _stored(device: dict[str, Any]) -> tuple[str, str, list[str]]:
    return device["name"], device["timezone"], device["groups"]


def _error(page: Element, prefix: str, field: str) -> str:
    return page.find("p", id=f"{prefix}-{field}-error").text()


# ------------------------------------------------------------------ add


def test_an_editor_adds_a_device_and_sees_its_code_which_enrolls(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    listing = _page(me.get("/devices"))
    assert listing.find("form", action="/devices", method="post")
    assert "Europe/Berlin" in [o.attrs["value"] for o in listing.find_all("option")]

    answer = me.post(
        "/devices",
        {"name": "  Front till ", "timezone": "Europe/Berlin", "groups": "tills, north,,tills"},
    )

    page = _page(answer, 201)
    [device] = _devices(api, admin)
    assert answer.headers["location"] == f"/devices/{device['id']}"
    assert _stored(device) == ("Front till", "Europe/Berlin", ["north", "tills"])
    assert page.find("h2", id="code-title").text() == "Enrollment code"
    assert "previous token" not in page.text()
    code = str(page.find("p", class_="enrollment-code").attrs["data-code"])
    assert code.count("-") == 3 and page.find_all("svg", class_="qr")
    # The test client's origin: no LOMUZ_PUBLIC_URL, no proxy.
    assert "lomuz-player enroll --api http://falconframework.org --code-stdin" in page.text()
    enrolled = api.call("POST", "/v1/enroll", json={"enrollment_code": code})
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json["device_id"] == device["id"]


def _shown_form(me: Browser, device_id: str) -> dict[str, str]:
    """The edit form's fields as the page gives them (the hidden shown_* included)."""
    form = _page(me.get(f"/devices/{device_id}")).find(
        "form", action=f"/devices/{device_id}", method="post"
    )
    return {
        i.attrs["name"]: i.attrs.get("value", "")
        for i in form.find_all("input")
        if i.attrs.get("name") and i.attrs["name"] != "csrf_token"
    }


def test_two_directors_editing_different_fields_keep_both_changes(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device = _made(api, admin, "Till", groups=["north"], timezone="UTC")
    first, second = _shown_form(me, device["id"]), _shown_form(me, device["id"])
    assert first["shown_name"] == "Till" and first["shown_groups"] == "north"

    assert me.post(f"/devices/{device['id']}", first | {"name": "Front till"}).status_code == 303
    # The second page predates the rename: saving its groups change keeps the new name.
    assert me.post(f"/devices/{device['id']}", second | {"groups": "south"}).status_code == 303

    assert _stored(_devices(api, admin)[0]) == ("Front till", "UTC", ["south"])


def test_a_field_changed_by_someone_else_meanwhile_is_a_conflict_and_nothing_is_saved(
    api: Api, panel: Panel
) -> None:
    me, admin = _signed_in(panel)
    device = _made(api, admin, "Till", groups=["north"], timezone="UTC")
    stale = _shown_form(me, device["id"])
    renamed = api.call("PATCH", f"/v1/devices/{device['id']}", admin, json={"name": "Back till"})
    assert renamed.status_code == 200, renamed.text

    page = _page(
        me.post(f"/devices/{device['id']}", stale | {"name": "Front till", "groups": "x"}), 409
    )

    assert "Changed by someone else — reload" in page.text()
    assert _stored(_devices(api, admin)[0]) == ("Back till", "UTC", ["north"])


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"name": "   "}, "name", "must not be empty"),
        ({"name": "x" * 201}, "name", "200"),
        ({"name": "Till\x00"}, "name", "NUL"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown IANA time zone"),
        ({"timezone": "../etc/passwd"}, "timezone", "IANA time zone"),
        ({"timezone": "posix/Europe/Berlin"}, "timezone", "unknown IANA time zone"),
        ({"timezone": ""}, "timezone", "IANA time zone"),
        ({"groups": "north, " + "g" * 101}, "groups", "group 1"),
        ({"groups": "a\x00b"}, "groups", "NUL"),
        ({"groups": ",".join(f"g{i}" for i in range(101))}, "groups", "100"),
    ],
)
def test_a_refused_add_names_the_field_and_stores_nothing(
    api: Api, panel: Panel, form: dict[str, str], field: str, words: str
) -> None:
    me, admin = _signed_in(panel)
    typed = {"name": "Till", "timezone": "UTC", "groups": ""} | form

    page = _page(me.post("/devices", typed), 422)

    assert words in _error(page, "add", field)
    assert page.find("input", id=f"add-{field}").attrs["aria-invalid"] == "true"
    assert "open" in page.find("details", id="add-device").attrs
    assert _devices(api, admin) == []
    assert page.find("input", id="add-name").attrs["value"] == typed["name"][:201].strip()


def test_every_error_of_one_add_shows_at_once(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    page = _page(me.post("/devices", {"name": "", "timezone": "Nowhere", "groups": "\x00"}), 422)
    assert {"add-name-error", "add-timezone-error", "add-groups-error"} <= {
        str(p.attrs.get("id")) for p in page.find_all("p", class_="field-error")
    }
    assert _devices(api, admin) == []


def test_a_viewer_sees_no_add_form_and_an_add_is_403(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    assert not _page(viewer.get("/devices")).find_all("form", action="/devices", method="post")
    assert viewer.post("/devices", {"name": "Till", "timezone": "UTC"}).status_code == 403
    assert _devices(api, admin) == []


def test_an_add_without_the_csrf_token_is_403(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    assert me.post("/devices", {"name": "Till"}, csrf=False).status_code == 403
    assert _devices(api, admin) == []


# ------------------------------------------------------------------ edit


def test_an_editor_edits_name_groups_and_time_zone(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device = _made(api, admin, "Till", groups=["north"], timezone="UTC")
    page = _page(me.get(f"/devices/{device['id']}"))
    form = page.find("form", action=f"/devices/{device['id']}", method="post")
    assert form.find("input", name="name").attrs["value"] == "Till"
    assert form.find("input", name="groups").attrs["value"] == "north"

    done = me.post(
        f"/devices/{device['id']}",
        {"name": "Front till", "timezone": "America/New_York", "groups": "south, tills"},
    )

    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/devices/{device['id']}?done=saved"
    [stored] = _devices(api, admin)
    assert _stored(stored) == ("Front till", "America/New_York", ["south", "tills"])
    shown = _page(me.get(done.headers["location"]))
    assert shown.find("p", role="status").text() == "Saved."
    assert "south, tills" in shown.text() and "America/New_York" in shown.text()


def test_an_edit_can_clear_the_groups(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device = _made(api, admin, groups=["north"])
    form = {"name": "Till", "timezone": "UTC", "groups": " , "}
    assert me.post(f"/devices/{device['id']}", form).status_code == 303
    assert _devices(api, admin)[0]["groups"] == []


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"name": ""}, "name", "must not be empty"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "unknown IANA time zone"),
        ({"timezone": "localtime"}, "timezone", "unknown IANA time zone"),
        ({"groups": "ok, " + "g" * 101}, "groups", "group 1"),
    ],
)
def test_a_refused_edit_names_the_field_and_changes_nothing(
    api: Api, panel: Panel, form: dict[str, str], field: str, words: str
) -> None:
    me, admin = _signed_in(panel)
    device = _made(api, admin, "Till", groups=["north"], timezone="Europe/Paris")
    before = _devices(api, admin)
    typed = {"name": "New name", "timezone": "UTC", "groups": "south"} | form

    page = _page(me.post(f"/devices/{device['id']}", typed), 422)

    assert words in _error(page, "edit", field)
    assert "Nothing was saved" in page.text()
    assert page.find("input", id="edit-name").attrs["value"] == typed["name"]
    assert _devices(api, admin) == before


def test_a_viewer_sees_no_edit_form_and_an_edit_is_403(api: Api, panel: Panel) -> None:
    viewer, admin = _signed_in(panel, "viewer")
    device = _made(api, admin)
    before = _devices(api, admin)
    page = _page(viewer.get(f"/devices/{device['id']}"))
    assert not page.find_all("form", action=f"/devices/{device['id']}", method="post")
    form = {"name": "Renamed", "timezone": "UTC", "groups": ""}
    assert viewer.post(f"/devices/{device['id']}", form).status_code == 403
    assert _devices(api, admin) == before


def test_an_edit_without_the_csrf_token_is_403(api: Api, panel: Panel) -> None:
    me, admin = _signed_in(panel)
    device = _made(api, admin)
    before = _devices(api, admin)
    form = {"name": "Renamed", "timezone": "UTC", "groups": ""}
    assert me.post(f"/devices/{device['id']}", form, csrf=False).status_code == 403
    assert _devices(api, admin) == before


def test_another_tenants_device_cannot_be_edited_404(api: Api, panel: Panel) -> None:
    me, _ = _signed_in(panel)
    _, other_admin = panel.tenant("other")
    theirs = _made(api, other_admin, "Their till")
    before = _devices(api, other_admin)
    form = {"name": "Mine now", "timezone": "UTC", "groups": ""}
    assert me.post(f"/devices/{theirs['id']}", form).status_code == 404
    assert me.post(f"/devices/{theirs['id']}", {"name": ""}).status_code == 404  # not 422
    assert _devices(api, other_admin) == before


# ------------------------------------------------------------------ the enroll command's URL


@pytest.fixture
def public_api(settings_env: dict[str, str], clock: Clock) -> Iterator[Api]:
    yield from make_panel_api(settings_env, clock, public_url="https://lomuz.example/edge")


def test_a_configured_public_url_names_the_api_in_the_enroll_command(
    public_api: Api, clock: Clock
) -> None:
    panel = Panel(public_api, clock)
    me, _ = _signed_in(panel)
    page = _page(me.post("/devices", {"name": "Till", "timezone": "UTC"}), 201)
    assert "enroll --api https://lomuz.example/edge --code-stdin" in page.text()


@pytest.fixture
def proxied_api(settings_env: dict[str, str], clock: Clock) -> Iterator[Api]:
    trusted = parse_networks("192.0.2.10/32")
    yield from make_panel_api(settings_env, clock, trusted_proxies=trusted)


def test_https_from_a_trusted_proxy_only_makes_the_command_https(
    proxied_api: Api, clock: Clock
) -> None:
    panel = Panel(proxied_api, clock)
    me, _ = _signed_in(panel)  # from 192.0.2.10, the trusted proxy
    https = {"X-Forwarded-Proto": "https"}
    proxied = _page(me.post("/devices", {"name": "A", "timezone": "UTC"}, headers=https), 201)
    assert "--api https://falconframework.org --code-stdin" in proxied.text()
    me.remote_addr = "198.51.100.7"  # not a proxy: its header is not believed
    direct = _page(me.post("/devices", {"name": "B", "timezone": "UTC"}, headers=https), 201)
    assert "--api http://falconframework.org --code-stdin" in direct.text()


# ------------------------------------------------------------------ hostile input

HOSTILE = st.text(st.characters(blacklist_categories=["Cs"]), max_size=80)
NAMES = st.one_of(HOSTILE, st.sampled_from(["Till", " Front till ", "x" * 200, "x" * 201]))
ZONES = st.one_of(HOSTILE, st.sampled_from(["UTC", "Europe/Berlin", " Asia/Tokyo", "Factory"]))
GROUPS = st.one_of(
    HOSTILE, st.lists(st.sampled_from(["north", " tills", "", "g" * 101]), max_size=4).map(",".join)
)
FORM_VALUES = st.fixed_dictionaries(
    {}, optional={"name": NAMES, "timezone": ZONES, "groups": GROUPS}
)


def _expected(form: dict[str, str]) -> tuple[str, str, list[str]]:
    return (
        form.get("name", "").strip(),
        form.get("timezone", "").strip(),
        sorted(set(group_names(form.get("groups", "")))),
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(add=FORM_VALUES, edit=FORM_VALUES)
def test_hostile_form_values_never_500_and_store_only_valid_input(
    api: Api, panel: Panel, add: dict[str, str], edit: dict[str, str]
) -> None:
    me, admin = _signed_in(panel)
    added = me.post("/devices", add)
    assert added.status_code in (201, 400, 422), added.text
    stored = _devices(api, admin)
    if added.status_code == 201:
        assert [_stored(d) for d in stored] == [_expected(add)]
        assert _expected(add)[1] in timezone_names()
    else:
        assert stored == []
        if added.status_code == 422:
            assert added.text.count("<script") == 1  # htmx's tag: the input is escaped
        _made(api, admin, "Kept", groups=["north"], timezone="Europe/Paris")
        stored = _devices(api, admin)

    edited = me.post(f"/devices/{stored[0]['id']}", edit)
    assert edited.status_code in (303, 400, 422), edited.text
    after = _devices(api, admin)
    if edited.status_code == 303:
        assert [_stored(d) for d in after] == [_expected(edit)]
    else:
        assert after == stored


def test_the_suggested_zones_are_exactly_the_accepted_ones() -> None:
    suggested = timezone_names()
    assert "Europe/Berlin" in suggested and "UTC" in suggested
    assert list(suggested) == sorted(suggested)
    for zone in available_timezones():
        try:
            parse_timezone(zone, "timezone")
        except InvalidField:
            assert zone not in suggested
        else:
            assert zone in suggested
