"""Guessing enrollment codes: one client address is locked out after a few
failures (429 with Retry-After for its bad codes), the lockout is logged once,
other addresses are not affected, a valid code enrolls even from the locked
address (a shop behind the NAT of a guesser), and every API process shares the
count (it lives in the database)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.robustness.api.conftest import Env, build_env, error_of

MAX_FAILURES = 5
LOCKOUT_S = 60


@pytest.fixture
def limited(settings_env: dict[str, str]) -> Iterator[Env]:
    yield from build_env(settings_env, enroll_max_failures=MAX_FAILURES, enroll_lockout_s=LOCKOUT_S)


def enroll(env: Env, code: str, address: str) -> tuple[int, dict[str, str], bytes]:
    r = env.api.client.simulate_post(
        "/v1/enroll", json={"enrollment_code": code}, remote_addr=address
    )
    return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content


def test_wrong_codes_lock_the_address_out_and_log_once(
    limited: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env = limited
    admin = env.api.tenant()
    created = env.api.call("POST", "/v1/devices", admin, json={"name": "box"})
    code = created.json["enrollment_code"]
    other = env.api.call("POST", "/v1/devices", admin, json={"name": "box2"})
    attacker, technician = "203.0.113.7", "198.51.100.20"

    caplog.set_level(logging.WARNING)
    statuses = []
    for attempt in range(40):
        status, headers, body = enroll(env, f"guess-{attempt:04d}", attacker)
        statuses.append(status)
        err = error_of(status, headers.get("content-type"), body)
        if status == 429:
            assert err["code"] == "too_many_requests"
            retry_after = int(headers["retry-after"])
            assert 0 < retry_after <= LOCKOUT_S
    assert statuses[:MAX_FAILURES] == [401] * MAX_FAILURES
    assert statuses[MAX_FAILURES:] == [429] * (40 - MAX_FAILURES), statuses

    lockouts = [r for r in caplog.records if "enrollment locked" in r.getMessage()]
    assert len(lockouts) == 1, [r.getMessage() for r in caplog.records]
    assert attacker in lockouts[0].getMessage()

    # Another address is not affected: its bad code is a plain 401, its good one enrolls.
    assert enroll(env, "typo", technician)[0] == 401
    status, _, body = enroll(env, other.json["enrollment_code"], technician)
    assert status == 201, body

    # The right code enrolls even from the locked address; the lock stays for bad codes.
    status, _, body = enroll(env, code, attacker)
    assert status == 201, body
    assert code not in caplog.text
    device = env.api.call("GET", f"/v1/devices/{created.json['id']}", admin)
    assert device.json["enrolled"] is True
    assert enroll(env, "guess-more", attacker)[0] == 429
    # A used code from the locked address is a bad code like any other.
    assert enroll(env, code, attacker)[0] == 429


def test_the_lockout_ends_after_its_time(limited: Env) -> None:
    env = limited
    address = "192.0.2.9"
    for attempt in range(MAX_FAILURES):
        assert enroll(env, f"bad-{attempt}", address)[0] == 401
    status, headers, _ = enroll(env, "bad", address)
    assert status == 429 and int(headers["retry-after"]) == LOCKOUT_S
    env.clock.advance(LOCKOUT_S - 1)
    status, headers, _ = enroll(env, "bad", address)
    assert status == 429 and int(headers["retry-after"]) == 1, "bad codes do not extend it"
    env.clock.advance(1)
    assert enroll(env, "bad", address)[0] == 401  # a fresh count


def test_two_api_processes_share_the_count(
    settings_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for first in build_env(
        settings_env, enroll_max_failures=MAX_FAILURES, enroll_lockout_s=LOCKOUT_S
    ):
        for second in build_env(
            settings_env, enroll_max_failures=MAX_FAILURES, enroll_lockout_s=LOCKOUT_S
        ):
            address = "203.0.113.77"
            workers = [first, second]
            statuses = [enroll(workers[i % 2], f"bad-{i}", address)[0] for i in range(8)]
            assert statuses == [401] * MAX_FAILURES + [429] * (8 - MAX_FAILURES), statuses
            lockouts = [r for r in caplog.records if "enrollment locked" in r.getMessage()]
            assert len(lockouts) == 1


def test_a_success_resets_the_count(limited: Env) -> None:
    env = limited
    admin = env.api.tenant()
    codes = [
        env.api.call("POST", "/v1/devices", admin, json={"name": f"box{i}"}).json["enrollment_code"]
        for i in range(2)
    ]
    address = "192.0.2.1"
    # Fewer failures than the limit, then a success: the count starts again.
    for attempt in range(MAX_FAILURES - 1):
        assert enroll(env, f"bad-{attempt}", address)[0] == 401
    assert enroll(env, codes[0], address)[0] == 201
    for attempt in range(MAX_FAILURES - 1):
        assert enroll(env, f"again-{attempt}", address)[0] == 401
    assert enroll(env, codes[1], address)[0] == 201


def test_malformed_enroll_bodies_are_clear_errors(limited: Env) -> None:
    env = limited
    cases = [
        (b"", 400),
        (b"{not json", 400),
        (b"[]", 422),
        (b'{"enrollment_code": 7}', 422),
        (b'{"enrollment_code": "x", "hardware": "pi"}', 422),
        (b'{"enrollment_code": "x", "surprise": 1}', 422),
    ]
    for body, expected in cases:
        r = env.api.client.simulate_post(
            "/v1/enroll",
            body=body,
            headers={"Content-Type": "application/json"},
            remote_addr="192.0.2.50",
        )
        assert r.status_code == expected, (body, r.status_code, r.text)
        error_of(r.status_code, r.headers.get("content-type"), r.content)
