"""Which device alerts open and close: pure, the time passed in.

An alert is open or not, per (webhook, device, kind): a webhook's thresholds
are its own, so two webhooks of a tenant may see the same device go offline at
different times. Invariants (the property tests check them):

- an alert opens only when it is not open, and closes only when it is open, so
  a kind never fires twice without a close between;
- an input that says nothing of a kind (a telemetry field missing or of the
  wrong type, no telemetry at all in the offline sweep) changes nothing of it;
- only ``device.offline`` has a closing event (``device.online``); the other
  kinds close silently, so they can fire again the next time.

The kinds: offline (not online, and silent for ``offline_after_s``), storage
full (the player says ``storage_full``), playback stopped (stopped, no sound
output, or playing silence: dead air), sync failing (``sync_failures``
consecutive failed syncs, at least the webhook's threshold).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from control_api.core.device_health import Telemetry


class AlertKind(StrEnum):
    OFFLINE = "offline"
    STORAGE_FULL = "storage_full"
    PLAYBACK_STOPPED = "playback_stopped"
    SYNC_FAILING = "sync_failing"


class EventType(StrEnum):
    OFFLINE = "device.offline"
    ONLINE = "device.online"
    STORAGE_FULL = "device.storage_full"
    PLAYBACK_STOPPED = "device.playback_stopped"
    SYNC_FAILING = "device.sync_failing"


OPENING_EVENT = {
    AlertKind.OFFLINE: EventType.OFFLINE,
    AlertKind.STORAGE_FULL: EventType.STORAGE_FULL,
    AlertKind.PLAYBACK_STOPPED: EventType.PLAYBACK_STOPPED,
    AlertKind.SYNC_FAILING: EventType.SYNC_FAILING,
}
CLOSING_EVENT = {AlertKind.OFFLINE: EventType.ONLINE}
TELEMETRY_KINDS = (AlertKind.STORAGE_FULL, AlertKind.PLAYBACK_STOPPED, AlertKind.SYNC_FAILING)
STOPPED_STATES = ("stopped", "no_audio", "silence")

DEFAULT_OFFLINE_AFTER_S = 600
DEFAULT_SYNC_FAILURES = 5


@dataclass(frozen=True)
class Thresholds:
    offline_after_s: int = DEFAULT_OFFLINE_AFTER_S
    sync_failures: int = DEFAULT_SYNC_FAILURES


@dataclass(frozen=True)
class Presence:
    """Whether the device counts as online, and since when it has been silent."""

    online: bool
    silent_since: datetime | None  # None: never seen


@dataclass(frozen=True)
class Transition:
    kind: AlertKind
    opened: bool  # False: closed
    event: EventType | None  # what is sent; None when the close says nothing
    data: dict[str, object]


def tracked_kinds(events: Iterable[str]) -> frozenset[AlertKind]:
    """The kinds a webhook's events need tracked (offline also for ``device.online``)."""
    wanted = set(events)
    kinds = {kind for kind, event in OPENING_EVENT.items() if event in wanted}
    if EventType.ONLINE in wanted:
        kinds.add(AlertKind.OFFLINE)
    return frozenset(kinds)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _offline(presence: Presence, thresholds: Thresholds, now: datetime) -> bool | None:
    """True: offline long enough; False: online; None: in between or never seen (no change)."""
    if presence.online:
        return False
    since = presence.silent_since
    if since is None:
        return None
    return True if now - since >= timedelta(seconds=thresholds.offline_after_s) else None


def _condition(kind: AlertKind, t: Telemetry, thresholds: Thresholds) -> bool | None:
    """Whether the telemetry says the kind's condition holds; None: it says nothing of it."""
    if kind is AlertKind.STORAGE_FULL:
        return t.storage_full
    if kind is AlertKind.PLAYBACK_STOPPED:
        return None if t.playing_state is None else t.playing_state in STOPPED_STATES
    if kind is AlertKind.SYNC_FAILING:
        if t.sync_failures is None:
            # A player that sends no count (older versions): only a success closes it.
            return False if t.last_sync_error is None else None
        return t.sync_failures >= thresholds.sync_failures
    raise ValueError(f"not a telemetry alert: {kind}")


def _data(kind: AlertKind, presence: Presence, t: Telemetry | None) -> dict[str, object]:
    if kind is AlertKind.OFFLINE:
        return {"last_seen_at": _instant(presence.silent_since)}
    assert t is not None
    if kind is AlertKind.STORAGE_FULL:
        return {"disk_percent": t.disk_percent, "cache_bytes": t.cache_bytes}
    if kind is AlertKind.PLAYBACK_STOPPED:
        return {"state": t.playing_state}
    return {"sync_failures": t.sync_failures, "last_sync_error": t.last_sync_error}


def transitions(
    open_kinds: Collection[AlertKind],
    tracked: Collection[AlertKind],
    *,
    presence: Presence,
    telemetry: Telemetry | None,
    thresholds: Thresholds,
    now: datetime,
) -> list[Transition]:
    """What opens and closes for one webhook and one device.

    ``open_kinds``: its alerts open now; ``tracked``: the kinds the webhook wants
    (``tracked_kinds``); ``telemetry``: the report that just arrived, or None
    (the offline sweep: only presence is known).
    """
    found: list[Transition] = []
    if AlertKind.OFFLINE in tracked:
        offline = _offline(presence, thresholds, now)
        is_open = AlertKind.OFFLINE in open_kinds
        if offline is True and not is_open:
            data = _data(AlertKind.OFFLINE, presence, telemetry)
            found.append(Transition(AlertKind.OFFLINE, True, EventType.OFFLINE, data))
        elif offline is False and is_open:
            data = {"last_seen_at": _instant(presence.silent_since)}
            found.append(Transition(AlertKind.OFFLINE, False, EventType.ONLINE, data))
    if telemetry is None:
        return found
    for kind in TELEMETRY_KINDS:
        if kind not in tracked:
            continue
        holds = _condition(kind, telemetry, thresholds)
        is_open = kind in open_kinds
        if holds is True and not is_open:
            data = _data(kind, presence, telemetry)
            found.append(Transition(kind, True, OPENING_EVENT[kind], data))
        elif holds is False and is_open:
            found.append(Transition(kind, False, CLOSING_EVENT.get(kind), {}))
    return found
