"""Per-device broker accounts and topic ACLs, tried against a real Mosquitto with the
dynamic-security plugin (issue 13): a device reads only its own topics and writes only
its own presence; a deleted account is refused at CONNECT; anonymous is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control_api.broker_dynsec import DynsecAccounts
from control_api.core.broker_accounts import api_account_steps, delete_steps, issue_steps
from control_api.errors import PushUnavailable
from lomuz_rules.push import TOPIC_ROOT, commands_topic, device_topic, nudge_topic, parse_broker_url
from tests.mqtt import DYNSEC_ADMIN, PrivateBroker, Publisher, Subscriber, connack, private_broker

WAIT_S = 10.0
# Long enough for a message the broker would deliver to arrive on loopback.
SETTLE_S = 1.0
ANY_PRESENCE = f"{TOPIC_ROOT}/+/presence"


@dataclass
class Broker:
    broker: PrivateBroker
    api_url: str
    accounts: DynsecAccounts

    def url(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.broker.port}"


def _accounts(url: str) -> DynsecAccounts:
    accounts = DynsecAccounts(parse_broker_url(url))
    accounts.start()
    assert accounts.wait_ready(WAIT_S), f"no dynamic-security connection to {url}"
    return accounts


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with private_broker(tmp_path / "broker", dynsec=True) as running:
        admin = _accounts(f"mqtt://{DYNSEC_ADMIN[0]}:{DYNSEC_ADMIN[1]}@127.0.0.1:{running.port}")
        try:
            admin.apply(api_account_steps("lomuz-api", "api-password"))
        finally:
            admin.stop()
        api_url = f"mqtt://lomuz-api:api-password@127.0.0.1:{running.port}"
        accounts = _accounts(api_url)  # the API manages accounts with its own
        try:
            yield Broker(running, api_url, accounts)
        finally:
            accounts.stop()


def _issue(broker: Broker, device_id: str) -> str:
    password = uuid.uuid4().hex
    broker.accounts.apply(issue_steps(device_id, password))
    return broker.url(device_id, password)


def _nothing_arrives(subscriber: Subscriber) -> bool:
    return not subscriber.wait_for(lambda: bool(subscriber.messages), SETTLE_S)


def test_a_device_reads_its_own_topics_and_publishes_its_presence(broker: Broker) -> None:
    a = _issue(broker, "dev_a")
    own = Subscriber(a, device_topic("dev_a", "#"))
    presence = Subscriber(broker.api_url, ANY_PRESENCE)
    api = Publisher(broker.api_url)
    device = Publisher(a)
    try:
        assert own.granted and presence.granted
        api.send(nudge_topic("dev_a"), b'{"revision":1}')
        api.send(commands_topic("dev_a"), b'{"id":"c1"}')
        device.send(device_topic("dev_a", "presence"), b"online", retain=True)
        assert own.wait_for(lambda: len(own.messages) >= 3, WAIT_S)
        assert {m.topic for m in own.messages} == {
            nudge_topic("dev_a"),
            commands_topic("dev_a"),
            device_topic("dev_a", "presence"),
        }
        assert presence.wait_for(lambda: bool(presence.messages), WAIT_S)
        assert presence.messages[0].payload == b"online"
    finally:
        for client in (own, presence, api, device):
            client.close()


def test_a_device_cannot_read_another_devices_topics(broker: Broker) -> None:
    a = _issue(broker, "dev_a")
    _issue(broker, "dev_b")
    api = Publisher(broker.api_url)
    # A retained nudge of B's: a subscription that were granted would get it at once.
    api.send(nudge_topic("dev_b"), b'{"revision":7}', retain=True)
    tries = [
        Subscriber(a, device_topic("dev_b", "#")),
        Subscriber(a, nudge_topic("dev_b")),
        Subscriber(a, f"{TOPIC_ROOT}/+/commands"),
        Subscriber(a, "#"),
    ]
    try:
        api.send(commands_topic("dev_b"), b'{"id":"c2"}')
        for tried in tries:
            assert not tried.granted
            assert _nothing_arrives(tried), tried.messages
    finally:
        api.close()
        for tried in tries:
            tried.close()


def test_a_device_cannot_publish_to_another_device_or_to_the_apis_topics(broker: Broker) -> None:
    a = _issue(broker, "dev_a")
    _issue(broker, "dev_b")
    watcher = Subscriber(broker.api_url, ANY_PRESENCE)
    b_listens = Subscriber(_issue(broker, "dev_b"), device_topic("dev_b", "#"))
    own = Subscriber(a, device_topic("dev_a", "#"))
    device = Publisher(a)
    try:
        device.send(device_topic("dev_b", "presence"), b"forged", retain=True)
        device.send(nudge_topic("dev_b"), b'{"revision":99}', retain=True)
        device.send(commands_topic("dev_b"), b'{"id":"forged"}')
        device.send(nudge_topic("dev_a"), b'{"revision":99}', retain=True)  # its own nudge too
        device.send(commands_topic("dev_a"), b'{"id":"self"}')
        assert _nothing_arrives(watcher), watcher.messages
        assert _nothing_arrives(b_listens), b_listens.messages
        assert _nothing_arrives(own), own.messages
    finally:
        for client in (watcher, b_listens, own, device):
            client.close()
    # Nothing was retained either: a new subscriber as the API sees none.
    late = Subscriber(broker.api_url, ANY_PRESENCE)
    try:
        assert _nothing_arrives(late), late.messages
    finally:
        late.close()


def test_a_deleted_or_rotated_account_is_refused_at_connect(broker: Broker) -> None:
    first = _issue(broker, "dev_a")
    assert connack(first) == "Success"
    second = _issue(broker, "dev_a")  # rotation: the old password stops working
    assert connack(first) == "Not authorized"
    assert connack(second) == "Success"
    broker.accounts.apply(delete_steps("dev_a"))
    assert connack(second) == "Not authorized"
    broker.accounts.apply(delete_steps("dev_a"))  # deleting again is fine


def test_anonymous_is_refused_and_the_api_account_connects(broker: Broker) -> None:
    assert connack(f"mqtt://127.0.0.1:{broker.broker.port}") == "Not authorized"
    assert connack(broker.api_url) == "Success"


def test_a_device_account_cannot_manage_accounts(broker: Broker) -> None:
    a = _issue(broker, "dev_a")
    forger = DynsecAccounts(parse_broker_url(a))
    forger.start()
    try:
        # Its subscription to the plugin's answers is refused: never ready.
        assert not forger.wait_ready(SETTLE_S)
        with pytest.raises(PushUnavailable):
            forger.apply(issue_steps("dev_b", "chosen"), timeout_s=SETTLE_S)
    finally:
        forger.stop()
    assert connack(broker.url("dev_b", "chosen")) == "Not authorized"


def test_a_stopped_broker_answers_push_unavailable_within_the_bound(broker: Broker) -> None:
    broker.broker.kill()
    with pytest.raises(PushUnavailable):
        broker.accounts.apply(issue_steps("dev_a", "x"), timeout_s=1.0)


def test_the_api_account_clears_a_gone_devices_retained_presence(broker: Broker) -> None:
    """What ``forget_device`` publishes (an empty retained message) is allowed to the
    API's account, so a decommissioned box's last "online" does not stay for good."""
    a = _issue(broker, "dev_gone")
    device, api = Publisher(a), Publisher(broker.api_url)
    try:
        device.send(device_topic("dev_gone", "presence"), b'{"state":"online"}', retain=True)
        api.send(device_topic("dev_gone", "presence"), b"", retain=True)
    finally:
        device.close()
        api.close()
    later = Subscriber(broker.api_url, device_topic("dev_gone", "presence"))
    try:
        assert _nothing_arrives(later)
    finally:
        later.close()
