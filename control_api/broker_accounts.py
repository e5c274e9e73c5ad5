"""The role that manages devices' broker accounts, and the one for a broker the API does not manage.

Apart from the paho adapter (``control_api.broker_dynsec``) so that the
services and resources see only the role.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from control_api.core.broker_accounts import Step
from control_api.errors import PushUnavailable

# How long a request waits for the plugin's answer: an issue is synchronous, a
# revocation is retried in the background (control_api.broker_revocations).
ANSWER_TIMEOUT_S = 3.0


class BrokerAccounts(Protocol):
    """Applies dynamic-security steps on the broker; thread-safe."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def apply(self, steps: Sequence[Step], timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        """Apply the steps, waiting at most ``timeout_s`` for the answer.

        Raises PushUnavailable when the broker is not connected, does not answer
        in time, or refuses a step (the message says which).
        """
        ...


class UnmanagedBrokerAccounts:
    """``LOMUZ_MQTT_MANAGE_ACCOUNTS`` is off: the API issues no broker credentials."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def apply(self, steps: Sequence[Step], timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        raise PushUnavailable(
            "this server issues no broker credentials (LOMUZ_MQTT_MANAGE_ACCOUNTS is off)"
        )
