"""The push link with an issued broker account (``player.runtime.issued_push``), against
a real Mosquitto with the dynamic-security plugin: it asks once, stores, connects; a
refused account is dropped and asked again, at most once per gap; no answer stalls it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from control_api.broker_dynsec import DynsecAccounts
from control_api.core.broker_accounts import api_account_steps, issue_steps
from lomuz_rules.push import BrokerAddress, nudge_topic, parse_broker_url
from player.adapters.mqtt_push import MqttPushLink
from player.credentials import (
    BrokerLogin,
    forget_broker_login,
    load_broker_login,
    save_broker_login,
)
from player.errors import ApiUnavailable
from player.ports import PushLink
from player.runtime.issued_push import IssuedPushLink
from tests.mqtt import DYNSEC_ADMIN, PrivateBroker, Publisher, private_broker

pytestmark = pytest.mark.timeout(60)
WAIT_S = 10.0


def _wait(ready: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


class Issuer:
    """The API's side: issues accounts on the broker, counts the asks."""

    def __init__(self, broker: PrivateBroker) -> None:
        self.port = broker.port
        admin = DynsecAccounts(
            parse_broker_url(f"mqtt://{DYNSEC_ADMIN[0]}:{DYNSEC_ADMIN[1]}@127.0.0.1:{self.port}")
        )
        admin.start()
        assert admin.wait_ready(WAIT_S)
        admin.apply(api_account_steps("lomuz-api", "api-password"))
        admin.stop()
        self.api_url = f"mqtt://lomuz-api:api-password@127.0.0.1:{self.port}"
        self.accounts = DynsecAccounts(parse_broker_url(self.api_url))
        self.accounts.start()
        assert self.accounts.wait_ready(WAIT_S)
        self.asks = 0
        self.failing = False

    def ask(self, device_id: str) -> BrokerLogin:
        self.asks += 1
        if self.failing:
            raise ApiUnavailable("push credentials: 503 push_unavailable")
        password = uuid.uuid4().hex
        self.accounts.apply(issue_steps(device_id, password))
        return BrokerLogin(f"mqtt://127.0.0.1:{self.port}", device_id, password)


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    with private_broker(tmp_path / "broker", dynsec=True) as broker:
        running = Issuer(broker)
        try:
            yield running
        finally:
            running.accounts.stop()


def _link(
    issuer: Issuer, path: Path, received: list[bytes], gap_s: float, device_id: str = "dev_a"
) -> IssuedPushLink:
    def make_link(broker: BrokerAddress, on_refused: Callable[[], None]) -> PushLink:
        return MqttPushLink(
            broker, device_id, received.append, on_refused=on_refused, reconnect_min_s=1
        )

    return IssuedPushLink(
        ask=lambda: issuer.ask(device_id),
        load=lambda: load_broker_login(path),
        save=lambda login: save_broker_login(path, login),
        forget=lambda: forget_broker_login(path),
        make_link=make_link,
        monotonic=time.monotonic,
        min_ask_gap_s=gap_s,
    )


def test_it_asks_once_stores_the_account_and_receives_a_nudge(
    issuer: Issuer, tmp_path: Path
) -> None:
    path = tmp_path / "broker-login.json"
    received: list[bytes] = []
    link = _link(issuer, path, received, gap_s=60)
    link.start()
    try:
        _wait(lambda: link.connected, "never connected with the issued account")
        assert issuer.asks == 1
        assert path.stat().st_mode & 0o777 == 0o600
        assert load_broker_login(path) is not None
        api = Publisher(issuer.api_url)
        try:
            api.send(nudge_topic("dev_a"), b'{"revision":3}')
        finally:
            api.close()
        _wait(lambda: b'{"revision":3}' in received, "the nudge never arrived")
    finally:
        link.stop()
    # A restart uses the stored account: no new ask.
    again = _link(issuer, path, [], gap_s=60)
    again.start()
    try:
        _wait(lambda: again.connected, "the stored account did not connect")
        assert issuer.asks == 1
    finally:
        again.stop()


def test_a_refused_account_is_dropped_and_asked_again(issuer: Issuer, tmp_path: Path) -> None:
    path = tmp_path / "broker-login.json"
    save_broker_login(path, BrokerLogin(f"mqtt://127.0.0.1:{issuer.port}", "dev_a", "stale"))
    link = _link(issuer, path, [], gap_s=0.5)
    link.start()
    try:
        _wait(lambda: link.connected, "never connected after asking for a new account")
        assert issuer.asks == 1
        stored = load_broker_login(path)
        assert stored is not None and stored.password != "stale"
    finally:
        link.stop()


def test_asking_is_bounded_whatever_the_answers(issuer: Issuer, tmp_path: Path) -> None:
    issuer.failing = True
    link = _link(issuer, tmp_path / "broker-login.json", [], gap_s=0.5)
    link.start()
    try:
        time.sleep(1.6)
        assert 2 <= issuer.asks <= 4  # once at once, then at most once per 0.5 s
        assert not link.connected
        issuer.failing = False
        _wait(lambda: link.connected, "never connected once the API issued an account")
    finally:
        started = time.monotonic()
        link.stop()
        assert time.monotonic() - started < 5


def test_stop_while_waiting_to_ask_again_returns_at_once(issuer: Issuer, tmp_path: Path) -> None:
    issuer.failing = True
    link = _link(issuer, tmp_path / "broker-login.json", [], gap_s=600)
    link.start()
    _wait(lambda: issuer.asks == 1, "never asked")
    started = time.monotonic()
    stopper = threading.Thread(target=link.stop)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive() and time.monotonic() - started < 2
