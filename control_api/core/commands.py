"""Remote commands: when one expires, and how a device's acknowledgement moves its state.

Invariants:
- A command is created ``pending``. Acknowledgements only move it forward:
  pending -> delivered -> done | failed, and pending -> done | failed directly
  (a device may skip "delivered"). done and failed are final.
- Acknowledgements are idempotent: the state a command already has (or an
  earlier one, a late "delivered" after "done") changes nothing and is no
  error. Only contradicting a final state (failed after done, or the reverse)
  is a conflict.
- ``expired`` is never stored: a command not done or failed reads expired once
  ``now`` is past its ``expires_at``, and takes no more acknowledgements.
- ``expires_at`` defaults to :data:`DEFAULT_TTL_S` after creation and may be at
  most :data:`MAX_TTL_S` ahead; one not in the future is refused.
Times are aware datetimes, passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from control_api.errors import Conflict, InvalidField
from lomuz_rules.commands import AckState, CommandState

DEFAULT_TTL_S = 600
MAX_TTL_S = 24 * 3600
_RANK = {"pending": 0, "delivered": 1, "done": 2, "failed": 2}
FINAL = frozenset({"done", "failed"})


def expires_at_for(requested: datetime | None, now: datetime) -> datetime:
    """The expiry of a command created at ``now``; InvalidField for one out of range."""
    if requested is None:
        return now + timedelta(seconds=DEFAULT_TTL_S)
    if requested <= now:
        raise InvalidField("expires_at", "must be in the future")
    if requested > now + timedelta(seconds=MAX_TTL_S):
        raise InvalidField("expires_at", "must be at most 24 h from now")
    return requested


def effective_state(stored: str, expires_at: datetime, now: datetime) -> CommandState:
    """The state a command reads as at ``now``."""
    if stored not in FINAL and now > expires_at:
        return "expired"
    return stored  # type: ignore[return-value]


def acknowledged_state(current: CommandState, ack: AckState) -> str | None:
    """The state ``ack`` moves a command in ``current`` to; None when it changes nothing.

    Conflict ``command_expired`` for an expired command, ``command_finished`` when
    the ack contradicts a final state.
    """
    if current == "expired":
        raise Conflict("the command expired before this acknowledgement", "command_expired")
    if current == ack or _RANK[ack] < _RANK[current]:
        return None
    if current in FINAL:
        raise Conflict(f"the command is already {current}", "command_finished")
    return ack
