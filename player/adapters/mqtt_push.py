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

Presence (``lomuz_rules.push``): the link's last will is ``offline`` on
``.../presence`` (QoS 1, retained), set before connecting; every connect
publishes ``online`` (retained). A clean stop publishes ``offline`` and waits
for the broker's acknowledgement (at most ``OFFLINE_WAIT_S``) before its
DISCONNECT, which does not fire the will.
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
from lomuz_rules.push import (
    NUDGE_QOS,
    PRESENCE_QOS,
    BrokerAddress,
    commands_topic,
    encode_presence,
    nudge_topic,
    presence_topic,
)

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 2
RECONNECT_MAX_S = 60
# The broker declares a silent client dead after 1.5 x keepalive and then publishes
# its will: 20 s shows a power-cut box offline within 30 s. The cost is one 2-byte
# PINGREQ/PINGRESP pair per idle box every 20 s: 250 pairs/s at 5,000 boxes, a few
# hundred kbit/s with TCP/TLS framing, well inside one Mosquitto's means; it also
# keeps NAT mappings of shop routers alive.
KEEPALIVE_S = 20
# A clean stop waits this long for the broker to acknowledge "offline" (the will
# covers a broker that does not answer in time).
OFFLINE_WAIT_S = 2.0
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
        keepalive_s: int = KEEPALIVE_S,
    ) -> None:
        self._broker = broker
        self._topic = nudge_topic(device_id)
        self._commands_topic = commands_topic(device_id)
        self._presence_topic = presence_topic(device_id)
        self._keepalive_s = keepalive_s
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
        self._unusable: str | None = None  # why this link can never connect
        if broker.tls:
            try:  # ssl.SSLError is an OSError too (a file that is no PEM)
                client.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
            except OSError as exc:
                self._unusable = f"cannot use the CA file {broker.ca_file}: {exc}"
        if reconnect_min_s is None:
            # paho's backoff has no jitter: boxes cut off by one broker restart would
            # retry in step; a first delay of 2-5 s per box spreads them.
            reconnect_min_s = RECONNECT_MIN_S + random.random() * 3
        client.reconnect_delay_set(max(1, round(reconnect_min_s)), int(reconnect_max_s))
        client.will_set(
            self._presence_topic, encode_presence("offline"), qos=PRESENCE_QOS, retain=True
        )
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
        if self._unusable is not None:
            log.error("push: %s: syncing by polling only", self._unusable)
            return
        self._client.connect_async(
            self._broker.host, self._broker.port, keepalive=self._keepalive_s
        )
        self._client.loop_start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            connected = self._connected
        if connected:
            self._publish_offline()
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT_S)
        with self._lock:
            self._connected = False

    def _publish_offline(self) -> None:
        info = self._client.publish(
            self._presence_topic, encode_presence("offline"), qos=PRESENCE_QOS, retain=True
        )
        try:
            info.wait_for_publish(OFFLINE_WAIT_S)
        except (RuntimeError, ValueError):  # the link dropped meanwhile: the will says it
            log.debug("push: offline not acknowledged before stop")

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
        client.publish(
            self._presence_topic, encode_presence("online"), qos=PRESENCE_QOS, retain=True
        )
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
