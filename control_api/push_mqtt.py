"""The API's MQTT publisher (paho-mqtt): nudges to ``lomuz/v1/devices/<id>/nudge``
and remote commands to ``.../commands`` (QoS 1, not retained).

One client per process, built and started by the composition root
(``create_app``), stopped by ``LomuzApp.close()``. paho's network thread
(``loop_start``) connects, reconnects with backoff (1 s doubling to 60 s) and
sends; :meth:`publish` only queues (QoS 1, retained: see ``lomuz_rules.push``)
and never blocks a request. While the broker is unreachable nudges are dropped,
not queued: a device that misses one still polls, and the next change's
retained nudge carries the newest revision anyway. The broker going away and
coming back is logged once each way, not once per retry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from control_api.mqtt_clients import ApiClient
from lomuz_rules.commands import COMMAND_QOS
from lomuz_rules.push import (
    NUDGE_QOS,
    PRESENCE_QOS,
    BrokerAddress,
    commands_topic,
    encode_nudge,
    nudge_topic,
    presence_topic,
)

log = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 50_000  # one fan-out to a large fleet, with room to spare
MAX_INFLIGHT_MESSAGES = 200


class MqttPublisher:
    """Publishes nudges to one broker; thread-safe."""

    def __init__(self, broker: BrokerAddress, *, client_id: str | None = None) -> None:
        self._broker = broker
        self._lock = threading.Lock()
        self._connected = False
        self._down_logged = False
        self._stopping = False
        self._link = ApiClient(broker, "push", client_id)
        client = self._link.paho
        client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        client.max_inflight_messages_set(MAX_INFLIGHT_MESSAGES)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._client = client

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    def start(self) -> None:
        """Connect in the background (never raises for an unreachable broker)."""
        self._link.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._link.stop("mqtt-stop")

    def publish(self, device_ids: Sequence[str], revision: int) -> int:
        if not self.connected:
            return 0
        payload = encode_nudge(revision)
        accepted = 0
        for device_id in device_ids:
            info = self._client.publish(nudge_topic(device_id), payload, qos=NUDGE_QOS, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                accepted += 1
        return accepted

    def publish_command(self, device_id: str, payload: bytes) -> bool:
        if not self.connected:
            return False
        info = self._client.publish(commands_topic(device_id), payload, qos=COMMAND_QOS)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def forget_device(self, device_id: str) -> None:
        # An empty retained message deletes the retained one (MQTT 3.1.1, 3.3.1.3).
        # With the broker down it stays: a few bytes, on a topic no device reads again.
        if self.connected:
            self._client.publish(nudge_topic(device_id), b"", qos=NUDGE_QOS, retain=True)
            self._client.publish(presence_topic(device_id), b"", qos=PRESENCE_QOS, retain=True)

    # -- paho's callbacks (its network thread) ---------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            self._went_down(f"refused: {reason}")
            return
        with self._lock:
            self._connected = True
            was_down, self._down_logged = self._down_logged, False
        if was_down:
            log.info("push: broker %s reachable again: nudging devices", self._broker.display())
        else:
            log.info("push: connected to broker %s", self._broker.display())

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._went_down(f"disconnected: {reason}")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._went_down("cannot connect")

    def _went_down(self, why: str) -> None:
        with self._lock:
            self._connected = False
            first = not self._down_logged and not self._stopping
            self._down_logged = True
        if first:
            log.warning(
                "push: broker %s unreachable (%s): devices sync by polling; retrying",
                self._broker.display(),
                why,
            )
