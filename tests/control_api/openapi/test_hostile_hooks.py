"""The hostile-value hooks fed to schemathesis really produce hostile values."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.control_api.openapi import hostile_hooks as hooks

BODY = {"name": "day", "items": [{"asset_id": "ast_1", "weight": 2}], "flag": True}


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_body_keeps_its_shape_but_one_leaf_may_turn_hostile(data: st.DataObject) -> None:
    body = data.draw(hooks.flatmap_body(None, BODY))
    assert set(body) == set(BODY)
    changed = [(path, leaf) for path, leaf in hooks._leaves(body) if path and _differs(path, leaf)]
    assert len(changed) <= 1 or _depth(body) > hooks.DEEP
    assert body["flag"] is True or _depth(body) > hooks.DEEP  # never another boolean


def _differs(path: tuple[Any, ...], leaf: Any) -> bool:
    original: Any = BODY
    for key in path:
        try:
            original = original[key]
        except (KeyError, IndexError, TypeError):
            return True
    return not isinstance(leaf, dict | list) and leaf != original


def test_every_hostile_kind_can_be_drawn() -> None:
    seen: set[str] = set()

    @settings(max_examples=500, deadline=None, database=None)
    @given(hooks.flatmap_body(None, BODY))
    def collect(body: dict[str, Any]) -> None:
        name = body["name"]
        if name in hooks.BODY_STRINGS:
            seen.add(name)
        items = body["items"]
        if isinstance(items[0], dict) and items[0]["weight"] in hooks.HUGE_INTS:
            seen.add("huge int")
        if _depth(body) > hooks.DEEP:
            seen.add("deep")

    collect()
    assert {"\x00", "x" * 3000, "huge int", "deep"} <= seen, seen


@given(hooks.flatmap_body(None, b"RIFF...."))
def test_raw_media_bodies_are_left_alone(body: bytes) -> None:
    assert body == b"RIFF...."


def test_url_parts_stay_sendable() -> None:
    for value in hooks.URL_STRINGS:
        value.encode("utf-8")  # no lone surrogate: a URL can carry it
        assert len(value) <= 2000
    for value in hooks.BODY_STRINGS:
        value.encode("utf-8")  # schemathesis must be able to re-validate the body
