"""Request bodies decode through the models and refusals name the field as the API does."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from control_api import models
from control_api.errors import InvalidField
from control_api.openapi import build_openapi
from control_api.resources import bodies
from control_api.services import assets, devices

SCHEDULE = {"playlist_id": "pl-1", "target": {"all": True}}


def refusal(parse: Any, body: dict[str, Any]) -> InvalidField:
    with pytest.raises(InvalidField) as caught:
        parse(body)
    return caught.value


@pytest.mark.parametrize(
    ("text", "field", "message", "code"),
    [
        ("Object contains unknown field `colour`", "colour", "unknown field", "unknown_field"),
        (
            "Object contains unknown field `z` - at `$.items[0]`",
            "items[0].z",
            "unknown field",
            "unknown_field",
        ),
        (
            "Object missing required field `asset_id` - at `$.items[3]`",
            "items[3].asset_id",
            "is required",
            "missing_field",
        ),
        (
            "Expected `int` >= 1000 - at `$.items[0].duration_ms`",
            "items[0].duration_ms",
            "expected `int` >= 1000",
            "invalid",
        ),
        ("Expected `object`, got `array`", "body", "expected `object`, got `array`", "invalid"),
    ],
)
def test_msgspec_messages_name_the_field(text: str, field: str, message: str, code: str) -> None:
    refused = bodies.invalid_field(text)
    assert (refused.field, refused.message, refused.code) == (field, f"{field}: {message}", code)


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "x" * 201])
def test_names_are_not_blank_nul_or_longer_than_the_column(name: str) -> None:
    refused = refusal(bodies.playlist, {"name": name, "items": []})
    assert refused.field == "name"


def test_a_blank_name_says_why_not_which_regex() -> None:
    refused = refusal(bodies.new_device, {"name": " \t"})
    assert refused.message == "name: must not be empty or contain NUL characters"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": True}, "priority"),  # a bool is not an integer
        ({"priority": 2**31}, "priority"),
        ({"priority": 1.0}, "priority"),
        ({"start_time": "24:00"}, "start_time"),
        ({"start_time": "7:00"}, "start_time"),
        ({"end_time": "24:30"}, "end_time"),
        ({"end_time": "12:60"}, "end_time"),
        ({"days": [1, 8]}, "days[1]"),
        ({"valid_from": "2026-01-01"}, "valid_from"),
        ({"target": {"group": "a", "all": True}}, "target"),
        ({"target": {}}, "target"),
        ({"target": {"all": False}}, "target.all"),
        ({"target": {"planet": "mars"}}, "target.planet"),
        ({"zz": 2}, "zz"),
    ],
)
def test_schedule_refusals_name_the_field(change: dict[str, Any], field: str) -> None:
    assert refusal(bodies.schedule, {**SCHEDULE, **change}).field == field


def test_schedule_defaults_and_normal_forms() -> None:
    given = {**SCHEDULE, "days": [7, 1, 1], "valid_from": "2026-01-01T01:00:00+01:00"}
    fields = bodies.schedule(given)
    assert fields.days == (1, 7) and fields.priority == 0
    assert (fields.start_time, fields.end_time) == ("00:00", "24:00")
    assert fields.valid_from is not None
    assert fields.valid_from.isoformat() == "2026-01-01T00:00:00+00:00"
    assert (fields.target_kind, fields.target_value) == ("all", "")
    assert bodies.schedule({**SCHEDULE, "end_time": "24:00"}).end_time == "24:00"


def test_patches_keep_only_the_fields_given() -> None:
    assert bodies.asset_changes({"title": None}) == {"title": None}
    assert bodies.asset_changes({}) == {}
    assert bodies.device_changes({"groups": ["b", "a", "b"]}) == {"groups": ["a", "b"]}
    assert refusal(bodies.device_changes, {"timezone": "Mars/Base"}).field == "timezone"


def test_the_patch_models_are_the_services_editable_fields() -> None:
    assert set(models.AssetPatch.__struct_fields__) == set(assets.EDITABLE)
    assert set(models.DevicePatch.__struct_fields__) == set(devices.EDITABLE)


def test_the_served_schemas_are_the_models() -> None:
    """The drift round 1 had: a field in the code and not in the document."""
    served = build_openapi()["components"]["schemas"]
    for model in models.DOCUMENTED:
        name = model.__name__
        fields = {f.encode_name for f in msgspec.structs.fields(model)}
        assert set(served[name]["properties"]) == fields, name
        closed = model.__struct_config__.forbid_unknown_fields
        assert (served[name].get("additionalProperties") is False) == closed, name
