"""``GET /v1/devices?group=&online=&q=``: the filters a director narrows the fleet with."""

from __future__ import annotations

from typing import Any

from tests.control_api.conftest import Api

# Names that break naive SQL: LIKE wildcards, quotes, JSON escapes, non-ASCII.
AWKWARD_GROUPS = ["50%_off", 'say "hi"', "back\\slash", "Café Nord", "[]", "x"]


def _ids(api: Api, token: str, **params: Any) -> set[str]:
    reply = api.call("GET", "/v1/devices", token, params=params)
    assert reply.status_code == 200, reply.text
    return {d["id"] for d in reply.json["items"]}


def _create(api: Api, token: str, name: str, groups: list[str]) -> str:
    reply = api.call("POST", "/v1/devices", token, json={"name": name, "groups": groups})
    assert reply.status_code == 201, reply.text
    return str(reply.json["id"])


def test_group_filter_matches_whole_names_only(api: Api) -> None:
    admin = api.tenant()
    by_group = {g: _create(api, admin, f"box {i}", [g]) for i, g in enumerate(AWKWARD_GROUPS)}
    both = _create(api, admin, "both", ["x", "50%_off"])
    for group, device_id in by_group.items():
        expected = {device_id} | ({both} if group in ("x", "50%_off") else set())
        assert _ids(api, admin, group=group) == expected, group
    assert _ids(api, admin, group="50") == set()  # not a prefix match
    assert _ids(api, admin, group="%") == set()  # not a wildcard


def test_online_filter_splits_seen_from_never_seen(api: Api) -> None:
    admin = api.tenant()
    seen, _token = api.device(admin, "seen")  # enrolling counts as being seen
    never = _create(api, admin, "never", [])
    assert _ids(api, admin, online="true") == {seen}
    assert _ids(api, admin, online="false") == {never}
    assert _ids(api, admin) == {seen, never}


def test_name_filter_is_a_case_insensitive_substring(api: Api) -> None:
    admin = api.tenant()
    north = _create(api, admin, "Shop North 12", [])
    south = _create(api, admin, "shop south", [])
    odd = _create(api, admin, "100%_sure", [])
    assert _ids(api, admin, q="SHOP") == {north, south}
    assert _ids(api, admin, q="north") == {north}
    assert _ids(api, admin, q="%_") == {odd}
    assert _ids(api, admin, q="_") == {odd}


def test_filters_combine_and_page(api: Api) -> None:
    admin = api.tenant()
    wanted = {_create(api, admin, f"mall {i}", ["mall"]) for i in range(5)}
    _create(api, admin, "mall other", ["street"])
    _create(api, admin, "kiosk", ["mall"])
    seen: set[str] = set()
    params: dict[str, Any] = {"group": "mall", "q": "MALL", "online": "false", "limit": 2}
    while True:
        page = api.call("GET", "/v1/devices", admin, params=params).json
        assert len(page["items"]) <= 2
        seen |= {d["id"] for d in page["items"]}
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert seen == wanted


def test_filters_see_only_the_callers_tenant(api: Api) -> None:
    mine, theirs = api.tenant("a"), api.tenant("b")
    own = _create(api, mine, "box", ["g"])
    _create(api, theirs, "box", ["g"])
    assert _ids(api, mine, group="g", q="box") == {own}


def test_bad_filter_values_are_named(api: Api) -> None:
    admin = api.tenant()
    for params, field in (
        ({"online": "maybe"}, "online"),
        ({"group": "g" * 101}, "group"),
        ({"q": "n" * 201}, "q"),
        ({"colour": "red"}, "colour"),
    ):
        reply = api.call("GET", "/v1/devices", admin, params=params)
        assert reply.status_code == 422, params
        assert field in reply.text, reply.text
