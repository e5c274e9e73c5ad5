"""Concurrent enrollments on two API processes (two apps on one database, each
served on loopback): a code is consumed once however many requests race for
it, and racing bad codes from one address are counted one by one."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests.robustness.api.conftest import Reply, Served, build_env, serve

THREADS = 12
MAX_FAILURES = 5


@pytest.fixture
def two_servers(
    settings_env: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[list[Served]]:
    max_failures = getattr(request, "param", MAX_FAILURES)
    with ExitStack() as stack:
        servers = []
        for _ in range(2):
            env = stack.enter_context(
                contextmanager(build_env)(
                    settings_env, enroll_max_failures=max_failures, enroll_lockout_s=60
                )
            )
            app = env.api.app
            host, port = stack.enter_context(contextmanager(serve)(app))  # type: ignore[arg-type]
            servers.append(Served(env, host, port))
        yield servers


def race(servers: list[Served], bodies: list[bytes]) -> list[Reply]:
    """POST /v1/enroll with each body at once (a barrier), alternating servers."""
    barrier = threading.Barrier(len(bodies))
    replies: list[Reply | None] = [None] * len(bodies)
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            replies[index] = servers[index % len(servers)].request(
                "POST",
                "/v1/enroll",
                body=bodies[index],
                headers={"Content-Type": "application/json"},
            )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(r is not None for r in replies), "a request did not finish"
    return [r for r in replies if r is not None]


# The losers' used code is a bad code: a limit above THREADS keeps them all 401.
@pytest.mark.parametrize("two_servers", [THREADS + 1], indirect=True)
def test_one_code_raced_by_many_requests_enrolls_once(two_servers: list[Served]) -> None:
    api = two_servers[0].env.api
    admin = api.tenant()
    created = api.call("POST", "/v1/devices", admin, json={"name": "box"}).json
    body = b'{"enrollment_code": "%s"}' % created["enrollment_code"].encode()
    replies = race(two_servers, [body] * THREADS)
    statuses = Counter(r.status for r in replies)
    assert statuses == {201: 1, 401: THREADS - 1}, statuses
    [winner] = [r.json() for r in replies if r.status == 201]
    assert winner["device_id"] == created["id"]
    # The token handed out is the one stored: it works, on both processes.
    for served in two_servers:
        manifest = served.request("GET", "/v1/device/manifest", winner["device_token"])
        assert manifest.status == 200, manifest.body


def test_racing_bad_codes_from_one_address_are_each_counted(two_servers: list[Served]) -> None:
    bodies = [b'{"enrollment_code": "guess-%d"}' % i for i in range(THREADS)]
    replies = race(two_servers, bodies)
    statuses = Counter(r.status for r in replies)
    assert statuses == {401: MAX_FAILURES, 429: THREADS - MAX_FAILURES}, statuses
    assert all(int(r.headers["retry-after"]) > 0 for r in replies if r.status == 429)
