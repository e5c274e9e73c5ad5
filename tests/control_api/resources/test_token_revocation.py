"""A revoked device token (a new enrollment code, a deleted device) gets 401 at
once from the API process that answered and within 1 s from every other one,
while both cache device tokens for far longer (PROTOCOL.md, Devices).

Two apps on one database stand for two server processes: each has its own
token cache. A settable monotonic clock proves the bound exactly; a second test
measures it on the real clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from control_api.app import create_app
from control_api.auth import REVOCATION_CHECK_S
from control_api.settings import load_settings
from control_api.store.db import Database
from tests.control_api.conftest import Api
from tests.control_api.openapi_check import CheckedClient
from tests.control_api.resources.test_manifest_poll import CheckoutCounter, FakeMonotonic

PROTOCOL_BOUND_S = 1.0


def _apps(env: dict[str, str], clocks: list[Callable[[], float]]) -> Iterator[list[Api]]:
    settings = load_settings({**env, "LOMUZ_TOKEN_CACHE_S": "60", "LOMUZ_LAST_SEEN_WRITE_S": "60"})
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    apps = [create_app(settings, monotonic=clock) for clock in clocks]
    try:
        yield [Api(CheckedClient(app), app, app.deps.db) for app in apps]
    finally:
        for app in apps:
            app.close()


def _enrolled(api: Api) -> tuple[str, str, str]:
    admin = api.tenant()
    device_id, token = api.device(admin)
    return admin, device_id, token


def _revoke(api: Api, how: str, admin: str, device_id: str) -> None:
    if how == "new code":
        reply = api.call("POST", f"/v1/devices/{device_id}/enrollment-code", admin)
        assert reply.status_code == 201, reply.text
    else:
        reply = api.call("DELETE", f"/v1/devices/{device_id}", admin)
        assert reply.status_code == 204, reply.text


def _manifest(api: Api, token: str, cursor: str | None = None) -> Any:
    """A poll; with ``cursor`` the cheap 304 path (nothing changed), all from caches."""
    params = {"since": cursor} if cursor else None
    return api.call("GET", "/v1/device/manifest", token, params=params)


HOW = ["new code", "delete"]


def test_the_check_interval_keeps_the_protocol_bound() -> None:
    assert 0 < REVOCATION_CHECK_S <= PROTOCOL_BOUND_S / 2


@pytest.mark.parametrize("how", HOW)
def test_revoked_token_is_refused_at_once_here_and_within_the_bound_elsewhere(
    settings_env: dict[str, str], how: str
) -> None:
    clock = FakeMonotonic()
    for answering, other in _apps(settings_env, [clock, clock]):
        admin, device_id, token = _enrolled(answering)
        cursor = _manifest(answering, token).json["cursor"]  # both cache the token
        assert _manifest(other, token, cursor).status_code == 304
        clock.advance(REVOCATION_CHECK_S / 2)
        assert _manifest(other, token, cursor).status_code == 304  # from its caches

        _revoke(answering, how, admin, device_id)
        # The answering process: on the very next request, no clock moved.
        reply = _manifest(answering, token, cursor)
        assert reply.status_code == 401, reply.text
        assert reply.json["error"]["code"] == "invalid_token"
        # The other process re-reads the revocation serial within REVOCATION_CHECK_S
        # of its last read, so at the bound it refuses whatever happened before.
        clock.advance(REVOCATION_CHECK_S)
        reply = _manifest(other, token, cursor)
        assert reply.status_code == 401, reply.text
        for route in ("/v1/device/manifest", "/v1/device/telemetry"):
            method = "GET" if route.endswith("manifest") else "POST"
            assert other.call(method, route, token, json={}).status_code == 401


@pytest.mark.parametrize("how", HOW)
def test_revocation_reaches_another_process_on_the_real_clock(
    settings_env: dict[str, str], how: str
) -> None:
    for answering, other in _apps(settings_env, [time.monotonic, time.monotonic]):
        admin, device_id, token = _enrolled(answering)
        cursor = _manifest(other, token).json["cursor"]
        assert _manifest(other, token, cursor).status_code == 304
        _revoke(answering, how, admin, device_id)
        revoked_at = time.monotonic()
        assert _manifest(answering, token, cursor).status_code == 401
        # Bounded: poll the other process until it refuses (or 5 s, a failure).
        seen: list[tuple[float, int]] = []
        while time.monotonic() - revoked_at < 5.0:
            started = time.monotonic() - revoked_at
            status = _manifest(other, token, cursor).status_code
            seen.append((started, status))
            if status != 304:
                break
        assert seen[-1][1] == 401, seen[-5:]
        # No request that started past the bound was still let in.
        late = [(t, s) for t, s in seen if s == 304 and t >= PROTOCOL_BOUND_S]
        assert not late, late
        print(
            f"\n[{how}] other process refused after {seen[-1][0] * 1000:.0f} ms "
            f"({len(seen) - 1} requests let in before)"
        )


def test_a_cached_poll_reads_the_serial_at_most_once_per_interval(
    settings_env: dict[str, str],
) -> None:
    clock = FakeMonotonic()
    env = {**settings_env, "LOMUZ_REVISION_CACHE_S": "3600"}
    for (api,) in _apps(env, [clock]):
        _, _, token = _enrolled(api)
        cursor = _manifest(api, token).json["cursor"]
        polls = 40
        counter = CheckoutCounter(api.db)
        for _ in range(polls):
            clock.advance(REVOCATION_CHECK_S / 4)
            reply = api.call("GET", "/v1/device/manifest", token, params={"since": cursor})
            assert reply.status_code == 304
        # One primary-key read per REVOCATION_CHECK_S, not one per poll.
        assert counter.count == polls // 4, counter.count
