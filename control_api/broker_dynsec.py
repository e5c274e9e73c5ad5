"""Mosquitto's dynamic-security plugin over MQTT (paho-mqtt): the API's account manager.

One connection per process, with the API's own credentials (``LOMUZ_MQTT_URL``),
subscribed to ``$CONTROL/dynamic-security/v1/response``. :meth:`apply`
publishes one request and waits (bounded) for the answers that carry its
correlation data, so several workers and threads share the broker safely.
The broker going away is not an error here: paho reconnects in the background
and :meth:`apply` answers PushUnavailable meanwhile.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from control_api.broker_accounts import ANSWER_TIMEOUT_S
from control_api.core.broker_accounts import (
    CONTROL_TOPIC,
    RESPONSE_TOPIC,
    Step,
    correlations_of,
    encode_request,
    first_failure,
)
from control_api.errors import PushUnavailable
from control_api.mqtt_clients import ApiClient
from lomuz_rules.push import BrokerAddress

log = logging.getLogger(__name__)


class DynsecAccounts:
    """Creates and deletes broker accounts through the dynamic-security plugin; thread-safe."""

    def __init__(self, broker: BrokerAddress) -> None:
        self._broker = broker
        self._cond = threading.Condition()
        self._ready = False  # connected and subscribed to the answers
        self._answers: dict[str, str | None] = {}
        self._link = ApiClient(broker, "accounts")
        client = self._link.paho
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        self._link.start()

    def stop(self) -> None:
        self._link.stop("dynsec-stop")

    def wait_ready(self, timeout_s: float) -> bool:
        """Whether the connection is up and subscribed within ``timeout_s`` (tests, start-up)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._ready, timeout=timeout_s)

    def apply(self, steps: Sequence[Step], timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        correlation = uuid.uuid4().hex
        wanted = {f"{correlation}:{i}" for i in range(len(steps))}
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready, timeout=min(timeout_s, 1.0)):
                raise PushUnavailable("the broker is not reachable; try again later")
        info = self._client.publish(CONTROL_TOPIC, encode_request(steps, correlation), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PushUnavailable("the broker is not reachable; try again later")
        with self._cond:
            arrived = self._cond.wait_for(lambda: wanted <= self._answers.keys(), timeout=timeout_s)
            answers = {key: self._answers.pop(key) for key in wanted if key in self._answers}
        if not arrived:
            raise PushUnavailable(
                "the broker's dynamic-security plugin did not answer in time "
                "(is it loaded, and may the API's account use it?)"
            )
        failure = first_failure(steps, correlation, answers)
        if failure is not None:
            log.warning("push: the broker refused an account change: %s", failure)
            raise PushUnavailable(f"the broker refused the account change ({failure})")

    # -- paho's callbacks (its network thread) ---------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("push: account manager refused by %s: %s", self._broker.display(), reason)
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if all(not r.is_failure for r in reasons):
            with self._cond:
                self._ready = True
                self._cond.notify_all()
        else:
            log.warning("push: the API's broker account may not read %s", RESPONSE_TOPIC)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        with self._cond:
            self._ready = False

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        answers = correlations_of(bytes(message.payload))
        if not answers:
            return
        with self._cond:
            self._answers.update(answers)
            # Answers nobody waits for any more (a timed-out request) must not pile up.
            if len(self._answers) > 10_000:
                self._answers.clear()
            self._cond.notify_all()
