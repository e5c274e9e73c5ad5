"""``POST /v1/device/push-credentials`` and the revocation of broker accounts (issue 13)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from control_api.app import create_app
from control_api.broker_dynsec import DynsecAccounts
from control_api.core.broker_accounts import api_account_steps
from control_api.settings import load_settings
from control_api.store import broker_deletions
from control_api.store.db import Database
from lomuz_rules.push import parse_broker_url
from tests.control_api.conftest import Api, make_api
from tests.control_api.openapi_check import CheckedClient
from tests.fakes.broker_accounts import FakeBrokerAccounts
from tests.mqtt import DYNSEC_ADMIN, connack, private_broker

pytestmark = pytest.mark.timeout(60)
PATH = "/v1/device/push-credentials"
DEVICE_URL = "mqtts://broker.example:8883"
WAIT_S = 10.0


@pytest.fixture
def accounts() -> FakeBrokerAccounts:
    return FakeBrokerAccounts()


@pytest.fixture
def managed(settings_env: dict[str, str], accounts: FakeBrokerAccounts) -> Iterator[Api]:
    yield from make_api(
        settings_env,
        broker_accounts=accounts,
        mqtt_device_url=DEVICE_URL,
        manage_broker_accounts=True,
    )


def _pending(api: Api) -> list[str]:
    with api.db.read() as s:
        return [device_id for device_id, _ in broker_deletions.pending(s, 100)]


def test_a_server_that_manages_no_accounts_answers_push_unavailable(api: Api) -> None:
    _, device = api.device(api.tenant())
    answer = api.call("POST", PATH, device)
    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "push_unavailable"
    assert answer.headers["Retry-After"] == "60"


def test_a_device_gets_its_own_account_and_asking_again_rotates_it(
    managed: Api, accounts: FakeBrokerAccounts
) -> None:
    device_id, device = managed.device(managed.tenant())
    first = managed.call("POST", PATH, device)
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    assert first.json["url"] == DEVICE_URL
    assert first.json["username"] == device_id
    assert len(first.json["password"]) >= 40
    second = managed.call("POST", PATH, device)
    assert second.json["password"] != first.json["password"]
    issued = [
        f"deleteClient {device_id}",
        f"createRole lomuz-device-{device_id}",
        f"createClient {device_id}",
    ]
    assert accounts.requests[-2:] == [issued, issued]


def test_an_admin_token_or_none_gets_no_broker_account(
    managed: Api, accounts: FakeBrokerAccounts
) -> None:
    admin = managed.tenant()
    assert managed.call("POST", PATH, admin).status_code == 403
    assert managed.call("POST", PATH).status_code == 401
    assert not any("createClient" in " ".join(r) for r in accounts.requests)


def test_the_broker_down_answers_503_and_enrollment_still_works(
    managed: Api, accounts: FakeBrokerAccounts
) -> None:
    accounts.down = True
    _, device = managed.device(managed.tenant())  # enrolls: never waits for the broker
    answer = managed.call("POST", PATH, device)
    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "push_unavailable"


def test_decommissioning_deletes_the_account_in_the_background(
    managed: Api, accounts: FakeBrokerAccounts
) -> None:
    admin = managed.tenant()
    device_id, device = managed.device(admin)
    assert managed.call("POST", PATH, device).status_code == 200
    assert managed.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
    deleted = [f"deleteClient {device_id}", f"deleteRole lomuz-device-{device_id}"]
    assert accounts.wait_for_request(deleted, WAIT_S)
    revocations = managed.app.revocations  # type: ignore[attr-defined]
    assert revocations.sweep() == 0 and _pending(managed) == []


def test_with_the_broker_down_a_revocation_is_kept_and_retried(
    managed: Api, accounts: FakeBrokerAccounts
) -> None:
    admin = managed.tenant()
    device_id, _ = managed.device(admin)
    accounts.down = True
    answer = managed.call("POST", f"/v1/devices/{device_id}/enrollment-code", admin)
    assert answer.status_code in (200, 201), answer.text
    revocations = managed.app.revocations  # type: ignore[attr-defined]
    assert revocations.sweep() == 1
    assert _pending(managed) == [device_id]
    accounts.down = False
    assert revocations.sweep() == 0
    assert _pending(managed) == []
    assert [f"deleteClient {device_id}", f"deleteRole lomuz-device-{device_id}"] in (
        accounts.requests
    )


def test_a_new_account_cancels_a_pending_deletion_of_the_old_one(
    managed: Api, accounts: FakeBrokerAccounts
) -> None:
    admin = managed.tenant()
    device_id, _ = managed.device(admin)
    accounts.down = True
    code = managed.call("POST", f"/v1/devices/{device_id}/enrollment-code", admin)
    enrolled = managed.call(
        "POST", "/v1/enroll", json={"enrollment_code": code.json["enrollment_code"]}
    )
    assert _pending(managed) == [device_id]
    accounts.down = False
    assert managed.call("POST", PATH, enrolled.json["device_token"]).status_code == 200
    assert _pending(managed) == []


def test_a_token_another_process_revoked_gets_no_account_from_one_that_still_caches_it(
    settings_env: dict[str, str], accounts: FakeBrokerAccounts
) -> None:
    settings = replace(
        load_settings({**settings_env, "LOMUZ_TOKEN_CACHE_S": "60"}),
        mqtt_device_url=DEVICE_URL,
        manage_broker_accounts=True,
    )
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    frozen = 1000.0  # no cache entry expires, no serial is re-read
    first = create_app(settings, broker_accounts=accounts, monotonic=lambda: frozen)
    second = create_app(settings, broker_accounts=accounts, monotonic=lambda: frozen)
    try:
        here = Api(CheckedClient(first), first, first.deps.db)
        there = Api(CheckedClient(second), second, second.deps.db)
        admin = here.tenant()
        device_id, device = here.device(admin)
        assert here.call("POST", PATH, device).status_code == 200  # its token cached here
        code = there.call("POST", f"/v1/devices/{device_id}/enrollment-code", admin)
        assert code.status_code == 201, code.text
        assert here.call("GET", "/v1/device/manifest", device).status_code == 200  # cached
        refused = here.call("POST", PATH, device)
        assert refused.status_code == 401, refused.text
        assert refused.json["error"]["code"] == "invalid_token"
        assert second.revocations.sweep() == 0  # type: ignore[union-attr]
        assert device_id not in accounts.clients
    finally:
        first.close()
        second.close()


def test_against_a_real_broker_an_issued_account_works_until_decommissioned(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    with private_broker(tmp_path / "broker", dynsec=True) as broker:
        admin_url = f"mqtt://{DYNSEC_ADMIN[0]}:{DYNSEC_ADMIN[1]}@127.0.0.1:{broker.port}"
        setup = DynsecAccounts(parse_broker_url(admin_url))
        setup.start()
        assert setup.wait_ready(WAIT_S)
        setup.apply(api_account_steps("lomuz-api", "api-password"))
        setup.stop()
        env = {
            **settings_env,
            "LOMUZ_MQTT_URL": f"mqtt://lomuz-api:api-password@127.0.0.1:{broker.port}",
            "LOMUZ_MQTT_MANAGE_ACCOUNTS": "1",
        }
        settings = load_settings(env)
        assert settings.mqtt_device_url == f"mqtt://127.0.0.1:{broker.port}"
        migrator = Database(settings.database_url)
        migrator.upgrade()
        migrator.dispose()
        app = create_app(settings)
        try:
            api = Api(CheckedClient(app), app, app.deps.db)
            assert app.deps.broker_accounts.wait_ready(WAIT_S)  # type: ignore[attr-defined]
            admin = api.tenant()
            device_id, device = api.device(admin)
            issued = api.call("POST", PATH, device)
            assert issued.status_code == 200, issued.text
            url = f"mqtt://{device_id}:{issued.json['password']}@127.0.0.1:{broker.port}"
            assert connack(url) == "Success"
            assert api.call("DELETE", f"/v1/devices/{device_id}", admin).status_code == 204
            # The deletion runs in the background, at once: refused within the bound.
            deadline = time.monotonic() + WAIT_S
            while connack(url) != "Not authorized":
                assert time.monotonic() < deadline, "the decommissioned account still connects"
                time.sleep(0.1)
        finally:
            app.close()
