"""Hostile JSON on every JSON route of the OpenAPI document: never a 5xx.

Per route, a valid body is taken apart by hypothesis: one field (or the body
itself) is replaced by a hostile value — NUL, a lone surrogate, a string longer
than any column, NaN/Infinity, deep nesting, instants in year 1 or 9999 with an
offset, huge numbers. The answer is a 4xx with the standard error body (or a
success), and nothing is logged as an unhandled error. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.openapi import build_openapi
from tests.robustness.api.conftest import (
    OBJECT_OF,
    Env,
    Tenant,
    concrete_path,
    error_of,
    seed_tenant,
)

_DEEP = 2048

HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "a" * 201,
    "a" * 5000,
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-03-01T10:00:00Z\x00",
    "2026-13-45T99:99:99Z",
    "24:00",
    "localtime",
    "Factory",
    "../../etc/passwd",
    "",
    " ",
    "=1+2",
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_STRINGS,
    float("nan"),
    float("inf"),
    float("-inf"),
    10**300,
    -(2**63),
    2**64,
    1e308,
    True,
    None,
    [],
    {},
    {"\x00": 1},
    {"\ud800": "x"},
    ["\x00"] * 3,
    ["g"] * 101,
]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUES += [_nested(40)]  # deeper ones are sent raw (RAW_BODIES)

RAW_BODIES = [
    b"[" * _DEEP + b"]" * _DEEP,
    b'{"a":' * _DEEP + b"1" + b"}" * _DEEP,
    b'{"name": NaN}',
    b'{"name": Infinity, "x": -Infinity}',
    b'{"x": 1e400}',
    b'{"name": "\\ud800"}',
    b'{"\\udc00": 1}',
    b'{"name": "\\u0000"}',
    b"\xff\xfe{",
    b'{"name": "a"',
    b"null",
    b"[]",
    b'"\\ud800"',
]


def _base_bodies(t: Tenant) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body per JSON operation (method, path template)."""
    play = {
        "id": str(uuid.uuid4()),
        "asset_id": t.ids["asset"],
        "sha256": t.ids["sha256"],
        "started_at": "2026-11-23T10:00:00Z",
        "ended_at": "2026-11-23T10:03:00Z",
        "source": "playlist",
        "outcome": "completed",
        "schedule_id": t.ids["schedule"],
        "playlist_id": t.ids["playlist"],
    }
    playlist = {"name": "day", "items": [{"asset_id": t.ids["asset"], "duration_ms": 5000}]}
    device = {"name": "box", "timezone": "Europe/Paris", "groups": ["north", "south"]}
    schedule = {
        "playlist_id": t.ids["playlist"],
        "target": {"group": "north"},
        "priority": 1,
        "days": [1, 2],
        "start_time": "08:00",
        "end_time": "20:00",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00+01:00",
    }
    return {
        ("post", "/v1/playlists"): playlist,
        ("put", "/v1/playlists/{id}"): playlist,
        ("patch", "/v1/assets/{id}"): {
            "title": "t",
            "emergency": False,
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": None,
            "duration_ms": 5000,
        },
        ("post", "/v1/devices"): device,
        ("patch", "/v1/devices/{id}"): device,
        ("post", "/v1/schedules"): schedule,
        ("put", "/v1/schedules/{id}"): schedule,
        ("post", "/v1/enroll"): {"enrollment_code": "X" * 16, "hardware": {"model": "pi"}},
        ("post", "/v1/device/telemetry"): {"state": "playing", "disk": {"free_bytes": 1}},
        ("post", "/v1/device/plays"): {"plays": [play, dict(play, id=str(uuid.uuid4()))]},
    }


def json_operations() -> list[tuple[str, str, str]]:
    """(method, path template, token kind) of every operation with a JSON body."""
    out = []
    for path, item in build_openapi()["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            if "application/json" not in op["requestBody"].get("content", {}):
                continue
            security = op.get("security") or [{}]
            kind = (
                "device"
                if "deviceToken" in security[0]
                else ("admin" if "adminToken" in security[0] else "none")
            )
            out.append((method, path, kind))
    return sorted(out)


OPERATIONS = json_operations()


def _paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths_in(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths_in(child, (*prefix, index))


def _replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@pytest.fixture
def seeded(env: Env) -> tuple[Env, Tenant]:
    return env, seed_tenant(env.api, "a")


def _target(path: str, t: Tenant) -> str:
    return concrete_path(path, t.ids) if path in OBJECT_OF else path


def _send(env: Env, t: Tenant, method: str, path: str, kind: str, raw: bytes) -> Any:
    token = {"admin": t.admin, "device": t.device_token, "none": None}[kind]
    return env.api.call(
        method.upper(),
        _target(path, t),
        token,
        body=raw,
        headers={"Content-Type": "application/json"},
    )


def _check(reply: Any, what: str) -> None:
    assert reply.status_code < 500, (what, reply.status_code, reply.text[:300])
    if reply.status_code >= 400:
        error_of(reply.status_code, reply.headers.get("content-type"), reply.content)


@pytest.mark.parametrize(("method", "path", "kind"), OPERATIONS)
def test_hostile_json_never_gets_a_5xx(
    seeded: tuple[Env, Tenant],
    method: str,
    path: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env, t = seeded
    base = _base_bodies(t).get((method, path), {})
    spots = list(_paths_in(base))
    caplog.set_level(logging.ERROR)

    for raw in RAW_BODIES:
        _check(_send(env, t, method, path, kind, raw), repr(raw[:60]))

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        spot=st.sampled_from(spots),
        value=st.one_of(
            st.sampled_from(HOSTILE_VALUES),
            # Every code point, lone surrogates and NUL included.
            st.text(alphabet=st.characters(exclude_categories=[]), max_size=300),
            st.integers(),
            st.floats(),
        ),
        extra_key=st.booleans(),
    )
    def attack(spot: tuple[Any, ...], value: Any, extra_key: bool) -> None:
        if extra_key and spot and isinstance(spot[-1], str):
            spot = (*spot[:-1], f"{spot[-1]}\x00")
        try:
            body = _replaced(base, spot, value)
        except (TypeError, IndexError, KeyError):
            body = value
        raw = json.dumps(body, allow_nan=True).encode()
        _check(_send(env, t, method, path, kind, raw), f"{spot}={value!r:.80}")

    attack()
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert unhandled == [], [r.getMessage() for r in unhandled]


def test_every_json_route_is_attacked() -> None:
    assert ("post", "/v1/enroll", "none") in OPERATIONS
    assert ("post", "/v1/device/plays", "device") in OPERATIONS
    assert ("post", "/v1/device/telemetry", "device") in OPERATIONS
    assert len(OPERATIONS) >= 10
