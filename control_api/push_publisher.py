"""The role of the push publisher (nudges and remote commands), and the one for no broker.

Apart from ``control_api.nudges`` so that what the resources see (``Deps``)
does not reach the store through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class NudgePublisher(Protocol):
    """Sends nudges to devices (the MQTT adapter; :class:`NullPublisher` when push is off)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish(self, device_ids: Sequence[str], revision: int) -> int:
        """Queue a nudge to each device; returns how many were accepted (the rest dropped)."""
        ...

    def publish_command(self, device_id: str, payload: bytes) -> bool:
        """Queue a remote command's message to the device; whether it was accepted.

        Never blocks: a dropped command stays pending for the device's HTTP pick-up.
        """
        ...

    def forget_device(self, device_id: str) -> None:
        """The device is gone (or re-enrolled): clear its retained nudge on the broker."""
        ...


class NullPublisher:
    """No broker configured (``LOMUZ_MQTT_URL`` unset): devices find changes by polling."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def publish(self, device_ids: Sequence[str], revision: int) -> int:
        return 0

    def publish_command(self, device_id: str, payload: bytes) -> bool:
        return False

    def forget_device(self, device_id: str) -> None:
        pass
