"""The player's push link and its nudge rules on a real Mosquitto.

Hostile payloads on the device's nudge topic (random bytes, huge, wrong JSON)
never crash or stall the link, and at most one sync comes of them however many
arrive (the rate limit); a real nudge still gets through afterwards.
"""

from __future__ import annotations

import gc
import json
import logging
import secrets
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.push_mqtt import MqttPublisher
from lomuz_rules.push import encode_nudge, nudge_topic, parse_broker_url
from player.adapters.mqtt_push import MqttPushLink
from player.runtime.nudges import NudgeSyncs
from tests.mqtt import Publisher, private_broker, publish, require_broker

pytestmark = pytest.mark.timeout(120)


class Counted:
    """Sync requests and payloads seen, with a condition to wait on."""

    def __init__(self) -> None:
        self.syncs = 0
        self.payloads: list[bytes] = []
        self.cond = threading.Condition()

    def sync(self) -> None:
        with self.cond:
            self.syncs += 1
            self.cond.notify_all()

    def wait(self, ready: object, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(ready, timeout=timeout_s)  # type: ignore[arg-type]


def _wait_connected(link: MqttPushLink, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not link.connected:
        assert time.monotonic() < deadline, "the push link never connected"
        time.sleep(0.02)


def _link(
    url: str,
    device_id: str,
    counted: Counted,
    *,
    min_gap_s: float,
    cursor: str | None,
    ca_file: Path | None = None,
):
    nudges = NudgeSyncs(
        cursor=lambda: cursor,
        request_sync=counted.sync,
        monotonic=time.monotonic,
        max_jitter_s=0,
        min_gap_s=min_gap_s,
    )

    def seen(payload: bytes) -> None:
        with counted.cond:
            counted.payloads.append(payload)
            counted.cond.notify_all()
        nudges.on_payload(payload)

    broker = replace(parse_broker_url(url), ca_file=str(ca_file) if ca_file else None)
    link = MqttPushLink(broker, device_id, seen, reconnect_min_s=1)
    nudges.start()
    link.start()
    return link, nudges


def test_a_nudge_newer_than_the_cursor_requests_one_sync_and_an_old_one_none() -> None:
    url = require_broker()
    device_id = f"dev_t{secrets.token_hex(6)}"
    counted = Counted()
    link, nudges = _link(url, device_id, counted, min_gap_s=0.1, cursor="7.scope")
    try:
        _wait_connected(link)
        time.sleep(0.2)  # the subscription is in place
        publish(url, nudge_topic(device_id), encode_nudge(7))  # what we hold already
        publish(url, nudge_topic(device_id), encode_nudge(8))
        assert counted.wait(lambda: counted.syncs >= 1, 10)
        time.sleep(0.5)
        assert counted.syncs == 1
        assert counted.payloads == [encode_nudge(7), encode_nudge(8)]
    finally:
        link.stop()
        nudges.stop()
    assert not link.connected


hostile = st.one_of(
    st.binary(max_size=512),
    st.tuples(st.binary(min_size=1, max_size=8), st.integers(10_000, 60_000)).map(
        lambda chunk_times: chunk_times[0] * chunk_times[1]  # huge: up to 480 kB
    ),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(
        st.sampled_from(["revision", "rev", "cmd", ""]),
        st.one_of(st.integers(), st.floats(), st.text(max_size=10), st.booleans(), st.none()),
    ).map(lambda d: json.dumps(d).encode()),
)


def test_hostile_payloads_never_crash_or_stall_the_link_and_cost_at_most_one_sync() -> None:
    url = require_broker()
    device_id = f"dev_t{secrets.token_hex(6)}"
    counted = Counted()
    # The cursor names a revision far ahead: only a hostile "revision" beyond it asks for a sync.
    link, nudges = _link(url, device_id, counted, min_gap_s=3600, cursor="5.scope")
    published: list[bytes] = []
    sender = Publisher(url)
    try:
        _wait_connected(link)
        time.sleep(0.2)

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(hostile)
        def send(payload: bytes) -> None:
            sender.send(nudge_topic(device_id), payload)
            published.append(payload)

        send()
        sentinel = encode_nudge(10**17)
        sender.send(nudge_topic(device_id), sentinel)
        assert counted.wait(lambda: sentinel in counted.payloads, 30), "the link stalled"
        assert link.connected
        assert nudges._thread.is_alive()
        assert counted.wait(lambda: counted.syncs >= 1, 5)  # the sentinel's (or an earlier) sync
        time.sleep(0.3)
        assert counted.syncs == 1, "more than one sync from a flood of nudges"
        assert len(counted.payloads) == len(published) + 1
    finally:
        sender.close()
        link.stop()
        nudges.stop()


def test_broker_going_away_and_back_logs_one_line_each_way(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="player.adapters.mqtt_push")
    counted = Counted()
    with private_broker(tmp_path) as broker:
        link, nudges = _link(broker.url, "dev_restart", counted, min_gap_s=0.1, cursor=None)
        try:
            _wait_connected(link)
            broker.kill()
            deadline = time.monotonic() + 10
            while link.connected:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(3.5)  # several reconnect attempts fail meanwhile (1 s, 2 s)
            broker.start()
            _wait_connected(link, timeout_s=30)
            publish(broker.url, nudge_topic("dev_restart"), encode_nudge(1))
            assert counted.wait(lambda: counted.syncs == 1, 10), "subscribed again on reconnect"
        finally:
            link.stop()
            nudges.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if "unreachable" in m]) == 1, lines
    assert len([m for m in lines if "reachable again" in m]) == 1, lines


# paho 2.1 leaves the socket of a failed TLS handshake to be freed (and warned
# about) on deallocation: the socket is closed then, nothing accumulates.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_mqtts_verifies_the_broker_certificate_against_the_system_cas(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker whose certificate no system CA signed is never trusted: no link, one line."""
    caplog.set_level(logging.INFO, logger="player.adapters.mqtt_push")
    counted = Counted()
    with private_broker(tmp_path, tls=True) as broker:
        assert broker.url.startswith("mqtts://")
        link, nudges = _link(broker.url, "dev_tls", counted, min_gap_s=0.1, cursor=None)
        try:
            time.sleep(3.5)  # the first attempt and a retry or two
            assert not link.connected
        finally:
            link.stop()
            nudges.stop()
            del link
            gc.collect()  # paho's leftover socket is freed here, under this test's filter
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if "unreachable" in m]) == 1, lines
    assert not [m for m in lines if "connected to" in m], lines


def test_mqtts_with_the_brokers_ca_file_carries_a_nudge_from_the_api_to_the_player(
    tmp_path: Path,
) -> None:
    """A private CA given to both sides (``[push] ca_file``, ``LOMUZ_MQTT_CA_FILE``): the
    API's publisher and the player's link both verify the broker and a nudge gets through."""
    counted = Counted()
    with private_broker(tmp_path, tls=True) as broker:
        assert broker.ca_file is not None
        device_id = f"dev_tls{secrets.token_hex(6)}"
        link, nudges = _link(
            broker.url, device_id, counted, min_gap_s=0.1, cursor="3.s", ca_file=broker.ca_file
        )
        publisher = MqttPublisher(
            replace(parse_broker_url(broker.url), ca_file=str(broker.ca_file))
        )
        publisher.start()
        try:
            _wait_connected(link)
            deadline = time.monotonic() + 10
            while not publisher.connected:
                assert time.monotonic() < deadline, "the API's publisher never connected"
                time.sleep(0.02)
            assert publisher.publish([device_id], 4) == 1
            assert counted.wait(lambda: counted.syncs == 1, timeout_s=10)
            assert counted.payloads == [encode_nudge(4)]
        finally:
            publisher.stop()
            link.stop()
            nudges.stop()


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_a_ca_file_that_cannot_be_used_means_polling_and_one_error_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | None
) -> None:
    caplog.set_level(logging.INFO, logger="player.adapters.mqtt_push")
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    counted = Counted()
    link, nudges = _link(
        "mqtts://127.0.0.1:1", "dev_ca", counted, min_gap_s=0.1, cursor=None, ca_file=ca_file
    )
    try:
        time.sleep(0.3)
        assert not link.connected
    finally:
        link.stop()
        nudges.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert str(ca_file) in errors[0] and "polling" in errors[0]
