"""When a push nudge makes the player sync: the jitter and the rate limit.

Invariants:
- A nudge only asks for a sync when it names a revision newer than the stored
  cursor (``lomuz_rules.push.nudge_wants_sync``); anything that is not a nudge
  is ignored.
- The sync runs ``jitter_s`` after the nudge, drawn uniformly in
  ``[0, max_jitter_s]``: a change that nudges a whole fleet spreads its syncs
  over a few seconds instead of stampeding the API.
- At most one nudge sync is pending at a time (later nudges join it), and two
  nudge syncs start at least ``min_gap_s`` apart: a flood of nudges, hostile or
  not, costs at most one sync per ``min_gap_s`` beyond the regular polls.
Times are monotonic seconds, passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PushState = Literal["connected", "disconnected", "off"]


@dataclass(frozen=True)
class BrokerLogin:
    """The device's own broker account, as ``POST /v1/device/push-credentials`` issued it
    (``[push] url = "issued"``; stored by ``player.credentials``)."""

    url: str  # mqtt://host:port or mqtts://host:port, no user part
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class PushStatus:
    """``off``: no broker configured; else whether the connection is up now."""

    state: PushState


PUSH_OFF = PushStatus("off")


def jitter_s(max_jitter_s: float, unit_random: float) -> float:
    """The delay before a nudge's sync; ``unit_random`` is uniform in [0, 1)."""
    return max(0.0, max_jitter_s) * min(max(unit_random, 0.0), 1.0)


def nudge_sync_due_at(
    *,
    now_s: float,
    jitter_s: float,
    pending_due_s: float | None,
    last_started_s: float | None,
    min_gap_s: float,
) -> float | None:
    """When to run the sync a nudge at ``now_s`` asks for; None when a pending one covers it."""
    if pending_due_s is not None:
        return None
    due = now_s + jitter_s
    if last_started_s is not None:
        due = max(due, last_started_s + min_gap_s)
    return due
