"""A device's health at a glance: green, amber, red or grey, with the reasons.

Pure: the caller gives the device's presence, its latest telemetry ``status``
(free JSON as the player sent it: anything at all, never trusted) and the time.
:func:`summarise` reads the fields the panel shows out of that object; a field
that is missing or of the wrong type is None, never an error.

The levels: grey for a device never seen; red for one that is offline, has no
sound output or whose storage is full; amber for one that plays but needs a
look (clock untrusted, disk nearly full, hot, throttled or under-voltage,
downloads failing, sync failing or stale, playing silence); green otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

DISK_NEARLY_FULL_PERCENT = 90.0
HOT_C = 75.0  # the Pi 4 firmware starts soft throttling at 80 °C
TOO_HOT_C = 85.0
SYNC_STALE = timedelta(hours=6)  # no successful manifest sync for this long
MAX_TEXT_CHARS = 200  # what the panel shows of a free-text field
PUSH_STATES = frozenset({"connected", "disconnected", "off"})  # the player's push link


class Level(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    GREY = "grey"


_ORDER = {Level.GREEN: 0, Level.AMBER: 1, Level.RED: 2, Level.GREY: 3}


@dataclass(frozen=True)
class Telemetry:
    """What the panel shows of a status report; None = not reported (or unreadable)."""

    reported_at: datetime | None = None
    playing_state: str | None = None
    playing_tier: str | None = None
    playing_asset_id: str | None = None
    playing_playlist_id: str | None = None
    last_sync_at: datetime | None = None
    last_sync_error: str | None = None
    sync_failures: int | None = None  # consecutive failed syncs (absent from older players)
    downloads_pending: int | None = None
    downloads_failing: int | None = None
    cache_bytes: int | None = None
    cache_files: int | None = None
    storage_full: bool | None = None
    disk_percent: float | None = None
    clock_trusted: bool | None = None
    clock_offset_s: float | None = None
    temperature_c: float | None = None
    throttled_now: bool | None = None
    under_voltage_now: bool | None = None
    player_version: str | None = None
    push_state: str | None = None  # connected | disconnected | off (PUSH_STATES)


@dataclass(frozen=True)
class Health:
    level: Level
    reasons: tuple[str, ...]  # empty when green

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "healthy"


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) and value else None


def _one_of(value: object, known: frozenset[str]) -> str | None:
    return value if isinstance(value, str) and value in known else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def summarise(status: object) -> Telemetry:
    """The shown fields of a telemetry ``status`` (any JSON value; never raises)."""
    s = _dict(status)
    playing = _dict(s.get("now_playing"))
    downloads = _dict(s.get("downloads"))
    failing = downloads.get("failing")
    cache = _dict(s.get("cache"))
    system = _dict(s.get("system"))
    clock = _dict(s.get("clock"))
    versions = _dict(s.get("versions"))
    return Telemetry(
        reported_at=_instant(s.get("at")),
        playing_state=_text(playing.get("state")),
        playing_tier=_text(playing.get("tier")),
        playing_asset_id=_text(playing.get("asset_id")),
        playing_playlist_id=_text(playing.get("playlist_id")),
        last_sync_at=_instant(s.get("last_sync_ok_at")),
        last_sync_error=_text(s.get("last_sync_error")),
        sync_failures=_count(s.get("sync_failures")),
        downloads_pending=_count(downloads.get("pending")),
        downloads_failing=len(failing) if isinstance(failing, list) else None,
        cache_bytes=_count(cache.get("size_bytes")),
        cache_files=_count(cache.get("files")),
        storage_full=_flag(s.get("storage_full")),
        disk_percent=_number(system.get("disk_percent")),
        clock_trusted=_flag(clock.get("trusted")),
        clock_offset_s=_number(clock.get("offset_s")),
        temperature_c=_number(system.get("temperature_c")),
        throttled_now=_flag(system.get("throttled_now")),
        under_voltage_now=_flag(system.get("under_voltage_now")),
        player_version=_text(versions.get("player")),
        push_state=_one_of(_dict(s.get("push")).get("state"), PUSH_STATES),
    )


def device_health(
    last_seen_at: datetime | None, online: bool, telemetry: Telemetry, now: datetime
) -> Health:
    """The device's level and every reason for it, worst first."""
    if last_seen_at is None:
        return Health(Level.GREY, ("never seen",))
    found: list[tuple[Level, str]] = []
    if not online:
        found.append((Level.RED, "offline"))
    t = telemetry
    if t.playing_state == "no_audio":
        found.append((Level.RED, "no sound output"))
    elif t.playing_state in ("silence", "stopped"):
        found.append((Level.AMBER, f"not playing ({t.playing_state})"))
    if t.storage_full:
        found.append((Level.RED, "storage full"))
    elif t.disk_percent is not None and t.disk_percent >= DISK_NEARLY_FULL_PERCENT:
        found.append((Level.AMBER, f"disk {t.disk_percent:.0f}% full"))
    if t.clock_trusted is False:
        found.append((Level.AMBER, "clock not trusted"))
    if t.temperature_c is not None and t.temperature_c >= HOT_C:
        level = Level.RED if t.temperature_c >= TOO_HOT_C else Level.AMBER
        found.append((level, f"hot ({t.temperature_c:.0f} °C)"))
    if t.throttled_now:
        found.append((Level.AMBER, "throttled"))
    if t.under_voltage_now:
        found.append((Level.AMBER, "under-voltage"))
    if t.downloads_failing:
        found.append((Level.AMBER, f"{t.downloads_failing} download(s) failing"))
    if t.last_sync_error:
        found.append((Level.AMBER, "sync failing"))
    elif t.last_sync_at is not None and now - t.last_sync_at > SYNC_STALE:
        hours = SYNC_STALE.total_seconds() / 3600
        found.append((Level.AMBER, f"no sync for over {hours:g} h"))
    if not found:
        return Health(Level.GREEN, ())
    found.sort(key=lambda f: -_ORDER[f[0]])  # stable: same level keeps the order above
    return Health(found[0][0], tuple(reason for _, reason in found))
