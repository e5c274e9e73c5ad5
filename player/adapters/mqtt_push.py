"""The player's push link (paho-mqtt): one connection, the device's nudge and commands topics.

``start`` returns at once; paho's network thread (``loop_start``) connects,
subscribes to ``lomuz/v1/devices/<device_id>/nudge`` and ``.../commands``
(QoS 1) on every (re)connect, and reconnects with backoff (2-5 s, doubling to
60 s) while the broker is away. Each message's payload goes as raw bytes to
``on_nudge`` or ``on_command`` by its topic (judged by ``player.runtime.nudges``
and ``player.runtime.commands``, not here). A CONNACK refusing the credentials
goes to ``on_refused`` (an issued account asks for a new one). The link going down is
logged once, its coming back once: a week without a broker writes two lines.
Polling goes on all the while; push only makes syncs sooner.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from lomuz_rules.commands import COMMAND_QOS
from lomuz_rules.push import NUDGE_QOS, BrokerAddress, commands_topic, nudge_topic

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 2
RECONNECT_MAX_S = 60
KEEPALIVE_S = 60
# paho's network thread can sit in a TLS handshake for up to KEEPALIVE_S with a
# broker that accepts TCP and then stalls: a stop waits this long at most (the
# thread is a daemon thread, and it ends on its own once the socket times out).
STOP_WAIT_S = 3.0
# CONNACK "bad user name or password" and "not authorised" (MQTT 5 codes; paho maps
# 3.1.1's 4 and 5 to them): the account is wrong, not the network.
REFUSED_CREDENTIALS = (134, 135)


class MqttPushLink:
    """Implements ``player.ports.PushLink`` over paho-mqtt; thread-safe."""

    def __init__(
        self,
        broker: BrokerAddress,
        device_id: str,
        on_nudge: Callable[[bytes], None],
        *,
        on_command: Callable[[bytes], None] | None = None,
        on_refused: Callable[[], None] | None = None,
        reconnect_min_s: float | None = None,
        reconnect_max_s: float = RECONNECT_MAX_S,
    ) -> None:
        self._broker = broker
        self._topic = nudge_topic(device_id)
        self._commands_topic = commands_topic(device_id)
        self._on_nudge = on_nudge
        self._on_command = on_command
        self._on_refused = on_refused
        self._lock = threading.Lock()
        self._connected = False
        self._down_logged = False
        self._stopping = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"lomuz-player-{device_id}",
            clean_session=True,
        )
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set_context(ssl.create_default_context())
        if reconnect_min_s is None:
            # paho's backoff has no jitter: boxes cut off by one broker restart would
            # retry in step; a first delay of 2-5 s per box spreads them.
            reconnect_min_s = RECONNECT_MIN_S + random.random() * 3
        client.reconnect_delay_set(max(1, round(reconnect_min_s)), int(reconnect_max_s))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT_S)
        with self._lock:
            self._connected = False

    # -- paho's callbacks (its network thread) ---------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            self._went_down(f"refused: {reason}")
            if reason.value in REFUSED_CREDENTIALS and self._on_refused is not None:
                self._on_refused()  # returns at once (player.runtime.issued_push)
            return
        topics = [(self._topic, NUDGE_QOS)]
        if self._on_command is not None:
            topics.append((self._commands_topic, COMMAND_QOS))
        client.subscribe(topics)
        with self._lock:
            self._connected = True
            was_down, self._down_logged = self._down_logged, False
        if was_down:
            log.info("push: broker %s reachable again: syncing on nudges", self._broker.display())
        else:
            log.info("push: connected to broker %s", self._broker.display())

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._went_down(f"disconnected: {reason}")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._went_down("cannot connect")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        handler = self._on_nudge
        if message.topic == self._commands_topic and self._on_command is not None:
            handler = self._on_command
        try:
            handler(bytes(message.payload))
        except Exception:  # paho's thread must live on: a message is only a hint
            log.exception("push: message handler failed (%s)", message.topic)

    def _went_down(self, why: str) -> None:
        with self._lock:
            self._connected = False
            first = not self._down_logged and not self._stopping
            self._down_logged = True
        if first:
            log.warning(
                "push: broker %s unreachable (%s): syncing by polling until it is back",
                self._broker.display(),
                why,
            )
