"""The API's presence listener (paho-mqtt): every device's ``.../presence`` topic.

One client per API worker, built and started by ``create_app`` when
``LOMUZ_MQTT_URL`` is set, stopped by ``LomuzApp.close()``. Each worker
subscribes on its own (no shared subscription): storage is idempotent
(``store.presence``), and each worker then keeps working alone. The session
is clean: every (re)subscribe receives the broker's retained presence of each
device, which brings the database up to date after the API or the broker was
away. Messages go, as (topic, payload), to ``on_message`` on paho's network
thread (``control_api.presence_intake``: it returns at once). Reconnects
with backoff (1 s doubling to 60 s); the broker going away and coming back is
logged once each way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from control_api.mqtt_clients import ApiClient
from lomuz_rules.push import PRESENCE_FILTER, PRESENCE_QOS, BrokerAddress

log = logging.getLogger(__name__)


class MqttPresenceListener:
    """Subscribes to every device's presence; thread-safe."""

    def __init__(
        self,
        broker: BrokerAddress,
        on_message: Callable[[str, bytes], None],
        *,
        client_id: str | None = None,
    ) -> None:
        self._broker = broker
        self._on_message_cb = on_message
        self._lock = threading.Lock()
        self._subscribed = False
        self._down_logged = False
        self._stopping = False
        self._link = ApiClient(broker, "presence", client_id)
        client = self._link.paho
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self._client = client

    @property
    def subscribed(self) -> bool:
        """Whether the broker acknowledged the subscription on the current connection."""
        with self._lock:
            return self._subscribed

    def start(self) -> None:
        """Connect in the background (never raises for an unreachable broker)."""
        self._link.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._link.stop("mqtt-presence-stop")

    # -- paho's callbacks (its network thread) ---------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            self._went_down(f"refused: {reason}")
            return
        client.subscribe(PRESENCE_FILTER, qos=PRESENCE_QOS)
        with self._lock:
            was_down, self._down_logged = self._down_logged, False
        if was_down:
            log.info("presence: broker %s reachable again", self._broker.display())

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        granted = all(not r.is_failure for r in reasons)
        with self._lock:
            self._subscribed = granted
        if not granted:
            log.warning("presence: broker refused the subscription to %s", PRESENCE_FILTER)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._went_down(f"disconnected: {reason}")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._went_down("cannot connect")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # a topic that is not UTF-8 names no device
            topic = ""
        try:
            self._on_message_cb(topic, bytes(message.payload))
        except Exception:  # paho's thread must live on
            log.exception("presence: message handler failed (%s)", message.topic)

    def _went_down(self, why: str) -> None:
        with self._lock:
            self._subscribed = False
            first = not self._down_logged and not self._stopping
            self._down_logged = True
        if first:
            log.warning(
                "presence: broker %s unreachable (%s): device presence frozen; retrying",
                self._broker.display(),
                why,
            )
