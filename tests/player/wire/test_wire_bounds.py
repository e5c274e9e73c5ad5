"""Every manifest field is bounded (player.wire docstring) and every failure is a ManifestError."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from player.errors import ManifestError
from player.wire import decode_manifest
from tests.player.runtime.helpers import (
    asset_json,
    content,
    manifest_json,
    playlist_json,
    schedule_json,
)


def sane() -> dict[str, Any]:
    return manifest_json(
        [asset_json("a1", content("one")), asset_json("a2", content("two"))],
        [playlist_json("p1", "a1", "a2")],
        [schedule_json("s1", "p1")],
    )


def rejected(doc: Any = None, raw: bytes | None = None) -> ManifestError:
    body = raw if raw is not None else json.dumps(doc).encode()
    with pytest.raises(ManifestError) as info:
        decode_manifest(body)
    return info.value


def with_(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = sane()
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def test_the_sane_manifest_decodes() -> None:
    assert decode_manifest(json.dumps(sane()).encode()).sync_interval_s == 600


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("sync_interval_s",), 10**12, "sync_interval_s"),
        (("sync_interval_s",), 604_801, "sync_interval_s"),
        (("sync_interval_s",), 9, "sync_interval_s"),
        (("assets", 0, "size"), 2**53, "assets[0].size"),
        (("assets", 0, "duration_ms"), 10**15, "assets[0].duration_ms"),
        (("playlists", 0, "items", 0, "duration_ms"), 2**40, "playlists[0].items[0].duration_ms"),
        (("playlists", 0, "crossfade_ms"), 10_001, "playlists[0].crossfade_ms"),
        (("playlists", 0, "crossfade_ms"), -1, "playlists[0].crossfade_ms"),
        (("playlists", 0, "version"), 2**60, "playlists[0].version"),
        (("schedules", 0, "priority"), 2**31, "schedules[0].priority"),
        (("schedules", 0, "priority"), -(2**31) - 1, "schedules[0].priority"),
        (("schedules", 0, "days"), [0], "schedules[0].days[0]"),
        (("schedules", 0, "days"), [8], "schedules[0].days[0]"),
        (("server_time",), "9999-12-31T23:59:59Z", "server_time"),
        (("server_time",), "0001-01-01T00:00:00+01:00", "server_time"),
        (("server_time",), "0001-01-01T00:00:00Z", "server_time"),
        (("schedules", 0, "valid_until"), "2100-01-01T00:00:00Z", "schedules[0].valid_until"),
        (("assets", 1, "valid_from"), "1999-12-31T23:59:59Z", "assets[1].valid_from"),
        (("schedules", 0, "created_at"), "9999-12-31T23:59:59-23:59", "schedules[0].created_at"),
        (("device", "name"), "\ud800", "device.name"),
        (("device", "timezone"), "\udfff", "device.timezone"),
        (("device", "groups"), ["ok", "\ud800x"], "device.groups[1]"),
        (("assets", 0, "id"), "a\ud800", "assets[0].id"),
        (("device", "timezone"), "America", "device.timezone"),
        (("device", "timezone"), "\x00", "device.timezone"),
    ],
)
def test_out_of_range_values_are_rejected_naming_the_field(
    path: tuple[Any, ...], value: Any, where: str
) -> None:
    error = rejected(with_(path, value))
    assert error.path == where, str(error)
    str(error).encode("utf-8")  # storable as last_sync_error


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("sync_interval_s",), 10),
        (("sync_interval_s",), 604_800),
        (("assets", 0, "size"), 2**53 - 1),
        (("schedules", 0, "priority"), 2**31 - 1),
        (("schedules", 0, "priority"), -(2**31)),
        (("playlists", 0, "crossfade_ms"), 10_000),
        (("server_time",), "2099-12-31T23:59:59Z"),
        (("server_time",), "2000-01-01T00:00:00Z"),
    ],
)
def test_the_bounds_themselves_are_accepted(path: tuple[Any, ...], value: Any) -> None:
    decode_manifest(json.dumps(with_(path, value)).encode())


def test_two_assets_of_one_sha256_with_different_sizes_are_rejected_naming_both() -> None:
    doc = sane()
    twin = copy.deepcopy(doc["assets"][0])
    twin["id"] = "a-twin"
    twin["size"] += 1
    doc["assets"].append(twin)
    error = rejected(doc)
    assert error.path == "assets[2].size"
    assert '"a-twin"' in str(error) and '"a1"' in str(error)


def test_two_assets_of_one_sha256_with_the_same_size_are_fine() -> None:
    doc = sane()
    twin = copy.deepcopy(doc["assets"][0])
    twin["id"] = "a-twin"
    doc["assets"].append(twin)
    assert len(decode_manifest(json.dumps(doc).encode()).assets) == 3


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"schema": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"schema": 1, "x": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"schema": 1, "cursor": "' + b"9" * 10 + b'", "n": ' + b"9" * 5000 + b"}",
        b'{"schema": 1e400}',
        b'{"schema": NaN}',
        b'{"schema": 1, "cursor": "\\ud800"}',
    ],
)
def test_hostile_bodies_are_manifest_errors(raw: bytes) -> None:
    error = rejected(raw=raw)
    str(error).encode("utf-8")


def test_a_lone_surrogate_in_an_error_message_is_escaped() -> None:
    error = rejected(with_(("schedules", 0, "target"), "\ud800"))
    assert error.path == "schedules[0].target"
    str(error).encode("utf-8")


def test_import_uses_the_same_validation(tmp_path: Any) -> None:
    from player.bundle import read_bundle_manifest
    from player.errors import BundleError

    (tmp_path / "manifest.json").write_text(json.dumps(with_(("sync_interval_s",), 10**12)))
    with pytest.raises(BundleError, match="sync_interval_s"):
        read_bundle_manifest(tmp_path)
