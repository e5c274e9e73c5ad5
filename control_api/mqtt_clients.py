"""The API's paho clients, made and stopped one way (publisher, presence, accounts).

Each is one connection with the API's own account from ``LOMUZ_MQTT_URL``, TLS
verified against ``LOMUZ_MQTT_CA_FILE`` or the system CAs, clean sessions and a
1..60 s reconnect backoff. A CA file that cannot be used makes a client that
never connects (``unusable`` says why): the API then works by polling, as with
no broker, and never fails to start for it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lomuz_rules.push import BrokerAddress

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60
KEEPALIVE_S = 60
# paho's network thread can sit in a TLS handshake for up to KEEPALIVE_S with a
# broker that accepts TCP and then stalls: a stop waits this long at most (the
# thread is a daemon thread, and it ends on its own once the socket times out).
STOP_WAIT_S = 3.0


class ApiClient:
    """A paho client and why it can never connect (None: it can)."""

    def __init__(self, broker: BrokerAddress, role: str, client_id: str | None = None) -> None:
        self.broker = broker
        self.unusable: str | None = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"lomuz-api-{role}-{uuid.uuid4().hex[:12]}",
            clean_session=True,
        )
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            try:  # ssl.SSLError is an OSError too (a file that is no PEM)
                client.tls_set_context(ssl.create_default_context(cafile=broker.ca_file))
            except OSError as exc:
                self.unusable = f"cannot use the CA file {broker.ca_file}: {exc}"
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.paho = client

    def start(self) -> None:
        """Connect in the background (never raises for an unreachable broker)."""
        if self.unusable is not None:
            log.error("push: %s: devices sync by polling only", self.unusable)
            return
        self.paho.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self.paho.loop_start()

    def stop(self, thread_name: str) -> None:
        """Disconnect and stop paho's thread, waiting at most ``STOP_WAIT_S``."""
        self.paho.disconnect()
        stopper = threading.Thread(target=self.paho.loop_stop, name=thread_name, daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT_S)
