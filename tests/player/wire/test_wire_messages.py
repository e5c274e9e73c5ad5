"""The msgspec-based decoder words its complaints like the rules it enforces, and keeps
the tolerant reader's edges (lone surrogates, a newer schema major, a full manifest's
"deleted")."""

from __future__ import annotations

import copy
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from player.errors import ManifestError
from player.wire import decode_manifest

FULL: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "contract" / "manifests" / "valid" / "full.json").read_text()
)


def with_(path: tuple[Any, ...], value: Any, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(FULL if doc is None else doc)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def error_of(doc: object) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        decode_manifest(json.dumps(doc).encode())
    return info.value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("sync_interval_s",), "600", 'sync_interval_s: must be an integer, got "600"'),
        (("sync_interval_s",), 604_801, "sync_interval_s: must be <= 604800, got 604801"),
        (("sync_interval_s",), 9, "sync_interval_s: must be >= 10, got 9"),
        (("schema",), 2**63, "schema: must fit in 64 bits, got 9223372036854775808"),
        (("full",), "yes", 'full: must be true or false, got "yes"'),
        (("cursor",), None, "cursor: must be a string, got null"),
        (("device",), [], "device: must be an object, got an array"),
        (("device", "groups"), "france", 'device.groups: must be an array, got "france"'),
        (("device", "id"), "", "device.id: must not be empty"),
        (("assets", 1, "media_type"), "hologram", "must be one of audio, video, image"),
        (("assets", 0, "sha256"), "A" * 64, "assets[0].sha256: must be 64 lowercase hex digits"),
        (("assets", 0, "sha256"), "ab", "assets[0].sha256: must be 64 lowercase hex digits"),
        (("assets", 0, "valid_from"), 5, "assets[0].valid_from: must be an RFC 3339 instant"),
        (("schedules", 0, "days"), [1, 9], "schedules[0].days[1]: must be an ISO weekday 1..7"),
        (("schedules", 0, "days"), None, "schedules[0].days: must name at least one weekday"),
        (("schedules", 0, "start_time"), "24:00", 'must be a time of day "00:00".."23:59"'),
        (("schedules", 0, "target"), "group!", 'must be one of device, group, all, got "group!"'),
        (("schedules", 0, "target"), "\ud800", "schedules[0].target: is not valid Unicode text"),
    ],
)
def test_complaints_name_the_field_the_rule_and_the_value(
    path: tuple[Any, ...], value: Any, message: str
) -> None:
    error = error_of(with_(path, value))
    assert message in str(error)
    str(error).encode("utf-8")  # storable as last_sync_error


def test_a_missing_field_is_named() -> None:
    doc = copy.deepcopy(FULL)
    del doc["assets"][1]["url"]
    assert str(error_of(doc)) == "assets[1].url: is missing"


def test_a_manifest_that_is_not_an_object_says_so() -> None:
    assert str(error_of([FULL])) == "manifest must be a JSON object, got an array"


@pytest.mark.parametrize("where", [(), ("device",), ("assets", 0), ("playlists", 0, "items", 0)])
def test_a_lone_surrogate_in_an_unknown_field_is_ignored(where: tuple[Any, ...]) -> None:
    doc = copy.deepcopy(FULL)
    node: Any = doc
    for key in where:
        node = node[key]
    node["x_future"] = {"note": "\ud800", "\udfff": ["\ud800"]}
    assert decode_manifest(json.dumps(doc).encode()) == decode_manifest(json.dumps(FULL).encode())


def test_a_lone_surrogate_next_to_another_fault_still_names_the_fault() -> None:
    doc = with_(("sync_interval_s",), 9)
    doc["x_future"] = "\ud800"
    assert error_of(doc).path == "sync_interval_s"


def test_a_newer_schema_major_is_reported_before_its_reshaped_fields() -> None:
    doc = {"schema": 2, "cursor": 7, "assets": {"by_id": {}}}
    error = error_of(doc)
    assert error.path == "schema"
    assert "schema major 2" in str(error)


@pytest.mark.parametrize("deleted", ["\ud800", [1], 5])
def test_a_full_manifests_deleted_is_not_read(deleted: object) -> None:
    assert decode_manifest(json.dumps(with_(("deleted",), deleted)).encode()).full


def test_a_deltas_deleted_is_read_and_checked() -> None:
    delta = with_(("full",), False)
    delta["deleted"] = {"assets": ["ok", "\ud800"]}
    assert error_of(delta).path == "deleted.assets[1]"
    delta["deleted"] = {"playlists": "pl-day"}
    assert str(error_of(delta)) == 'deleted.playlists: must be an array, got "pl-day"'


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("schedules", 0, "start_time"), "\u0660\u0668:\u0660\u0660", "schedules[0].start_time"),
        (("server_time",), "2026-12-01T09:00:00Z\n", "server_time"),
        (("server_time",), "2026-12-01 09:00:00Z", "server_time"),
    ],
)
def test_times_and_instants_take_their_exact_ascii_form(
    path: tuple[Any, ...], value: str, where: str
) -> None:
    assert error_of(with_(path, value)).path == where


def test_a_body_malformed_after_a_type_error_is_still_a_manifest_error() -> None:
    raw = json.dumps(with_(("schema",), "1")).encode()[:-20]
    with pytest.raises(ManifestError):
        decode_manifest(raw)


@pytest.fixture
def collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()


@pytest.mark.usefixtures("collector_restored")
@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled: bool) -> None:
    if enabled:
        gc.enable()
    else:
        gc.disable()
    decode_manifest(json.dumps(FULL).encode())
    assert gc.isenabled() is enabled
    with pytest.raises(ManifestError):
        decode_manifest(b"[]")
    assert gc.isenabled() is enabled
