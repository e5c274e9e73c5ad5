"""Handing a stored remote command to the broker: the JSON API's and the panel's one way.

A publish that cannot happen (push off, broker down, the adapter failing) is
counted and logged, never raised: the command is stored, and the device's HTTP
pick-up delivers it at its next sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from control_api.deps import Deps
from lomuz_rules.commands import CommandMessage, encode_command

log = logging.getLogger(__name__)


def publisher_for(deps: Deps, device_id: str) -> Callable[[CommandMessage], bool]:
    """What ``services.commands.send_command`` calls to publish the device's command."""

    def publish(message: CommandMessage) -> bool:
        try:
            sent = deps.publisher.publish_command(device_id, encode_command(message))
        except Exception:  # the command is stored: the device's HTTP pick-up delivers it
            log.exception("push: publishing command %s failed", message.id)
            sent = False
        deps.metrics.command_published(sent)
        return sent

    return publish
