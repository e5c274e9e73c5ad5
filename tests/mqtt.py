"""Real Mosquitto for the push tests: the shared broker, a private one, a subscriber.

The shared broker is ``LOMUZ_TEST_MQTT_URL`` (default mqtt://127.0.0.1:1883,
started by .ci/run). Without it the tests skip; in CI (``LOMUZ_CI=1``) they
fail. Tests that run in parallel share it, so each uses its own device ids
(random) and listens only to those.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lomuz_rules.push import parse_broker_url
from tests.netutil import free_port
from tests.tls_certs import tls_files

BROKER_URL = os.environ.get("LOMUZ_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_broker() -> str:
    """The shared broker's URL; skip (fail in CI) when nothing listens there."""
    address = parse_broker_url(BROKER_URL)
    if not _reachable(address.host, address.port):
        why = f"no MQTT broker at {BROKER_URL} (start mosquitto, or set LOMUZ_TEST_MQTT_URL)"
        if os.environ.get("LOMUZ_CI") == "1":
            pytest.fail(why + "; required in CI")
        pytest.skip(why)
    return BROKER_URL


def _client(url: str) -> mqtt.Client:
    """A paho client with the URL's user and password, if it names them."""
    address = parse_broker_url(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="")
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    return client


def connack(url: str, timeout_s: float = 10.0) -> str:
    """The broker's answer to a CONNECT with the URL's credentials ("Success", "Not authorized")."""
    address = parse_broker_url(url)
    answered = threading.Event()
    reasons: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        reasons.append(str(reason))
        answered.set()

    client = _client(url)
    client.on_connect = on_connect
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            raise TimeoutError(f"no CONNACK from {address.display()}")
    finally:
        client.disconnect()
        client.loop_stop()
    return reasons[0]


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A paho client recording what arrives on ``topic_filter`` (QoS 1)."""

    def __init__(self, url: str, topic_filter: str) -> None:
        address = parse_broker_url(url)
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.granted = False  # whether the broker granted the subscription
        self._client = _client(url)
        self._client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"could not subscribe to {topic_filter} on {url}")

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[Any], _p: object
    ) -> None:
        self.granted = all(not reason.is_failure for reason in reasons)
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(message.topic, message.payload, bool(message.retain)))
            self._cond.notify_all()

    def live(self, topics: set[str] | None = None) -> list[Received]:
        """Messages published while subscribed (not retained ones), on ``topics`` if given."""
        with self._cond:
            return [
                m for m in self.messages if not m.retain and (topics is None or m.topic in topics)
            ]

    def wait_for(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(ready, timeout=timeout_s)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Publisher:
    """One connection that publishes messages, QoS 1, each waited for."""

    def __init__(self, url: str) -> None:
        address = parse_broker_url(url)
        self._client = _client(url)
        self._client.connect(address.host, address.port)
        self._client.loop_start()

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def publish(url: str, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """One message on a connection of its own."""
    publisher = Publisher(url)
    try:
        publisher.send(topic, payload, retain=retain)
    finally:
        publisher.close()


class PrivateBroker:
    """A mosquitto of this test's own on a free loopback port, to kill and restart.

    With ``tls`` it listens for mqtts only, with a certificate of a private CA
    (``ca_file``): trusted by a client given that file, by no system CA."""

    def __init__(self, workdir: Path, *, tls: bool = False, dynsec: bool = False) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            if os.environ.get("LOMUZ_CI") == "1":
                pytest.fail("mosquitto is required in CI (scripts/bootstrap installs it)")
            pytest.skip("mosquitto is not installed")
        self.port = free_port()
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        self._binary = binary
        workdir.mkdir(parents=True, exist_ok=True)
        self._config = workdir / "mosquitto.conf"
        anonymous = "false" if dynsec else "true"
        config = f"listener {self.port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence false\n"
        if dynsec:  # accounts and ACLs managed over MQTT; the admin made by `dynsec init`
            config += _dynsec_config(workdir)
        if os.geteuid() == 0:  # else it drops to the mosquitto user, who cannot read tmp_path
            config += "user root\n"
        self.ca_file: Path | None = None  # with tls: the private CA that signed the broker
        if tls:
            files = tls_files(workdir)
            self.ca_file = files.ca_file
            config += f"certfile {files.cert_file}\nkeyfile {files.key_file}\n"
        self._config.write_text(config)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [self._binary, "-c", str(self._config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None


DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
DYNSEC_ADMIN = ("admin", "admin-password")


def _dynsec_config(workdir: Path) -> str:
    ctrl = shutil.which("mosquitto_ctrl")
    if not DYNSEC_PLUGIN.exists() or ctrl is None:
        if os.environ.get("LOMUZ_CI") == "1":
            pytest.fail("mosquitto's dynamic-security plugin and mosquitto_ctrl are required in CI")
        pytest.skip("mosquitto's dynamic-security plugin (or mosquitto_ctrl) is not installed")
    state = workdir / "dynamic-security.json"
    subprocess.run(
        [ctrl, "dynsec", "init", str(state), *DYNSEC_ADMIN],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {state}\n"


@contextmanager
def private_broker(
    workdir: Path, *, tls: bool = False, dynsec: bool = False
) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(workdir, tls=tls, dynsec=dynsec)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
