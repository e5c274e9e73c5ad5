"""What the devices pages show, built from the use cases' answers (no rule here:
health is :mod:`control_api.core.device_health`, presence :mod:`control_api.core.presence`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from control_api.core.device_health import Health, Telemetry, device_health, summarise
from control_api.core.presence import is_online
from lomuz_rules.timeline import Segment

MISSING = "—"  # a value the device has not reported
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class DeviceRow:
    id: str
    name: str
    state: str  # online | offline | never
    state_label: str
    last_seen_at: datetime | None
    health: Health
    telemetry: Telemetry
    groups: Sequence[str]
    timezone: str
    enrolled: bool

    @property
    def playing_asset_id(self) -> str | None:
        return self.telemetry.playing_asset_id

    @property
    def playing_playlist_id(self) -> str | None:
        return self.telemetry.playing_playlist_id


STATE_LABELS = {"online": "online", "offline": "offline", "never": "never seen"}
PUSH_LABELS = {"connected": "connected", "disconnected": "disconnected (polling)", "off": "off"}


def device_row(device: Any, now: datetime, telemetry_interval_s: int) -> DeviceRow:
    """One device (a ``Device`` of the devices service) as the panel shows it."""
    online = is_online(
        device.presence_state,
        device.presence_changed_at,
        device.last_seen_at,
        now,
        telemetry_interval_s,
    )
    never = device.last_seen_at is None and device.presence_state is None
    state = "never" if never else "online" if online else "offline"
    telemetry = summarise(device.status)
    return DeviceRow(
        id=device.id,
        name=device.name,
        state=state,
        state_label=STATE_LABELS[state],
        last_seen_at=device.last_seen_at,
        health=device_health(device.last_seen_at, online, telemetry, now),
        telemetry=telemetry,
        groups=tuple(device.groups or ()),
        timezone=device.timezone,
        enrolled=device.token_hash is not None,
    )


def push_text(row: DeviceRow) -> str:
    """The device's push link as its last report said; only believed while it is online
    (an offline device's last "connected" is no news)."""
    if row.state != "online":
        return MISSING
    if row.telemetry.push_state is None:
        return "not reported"
    return PUSH_LABELS[row.telemetry.push_state]


def ago(at: datetime | None, now: datetime) -> str:
    """``12 s ago``, ``5 min ago``, ``3 h ago``, ``4 d ago``; ``—`` for None."""
    if at is None:
        return MISSING
    seconds = int((now - at).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit_s, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= unit_s:
            return f"{seconds // unit_s} {unit} ago"
    return f"{seconds} s ago"


def size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return MISSING
    value = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return MISSING  # pragma: no cover - the loop returns


def shown(value: object) -> str:
    return MISSING if value is None else str(value)


def instant(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_text(at: datetime | None, timezone: str) -> str:
    if at is None:
        return MISSING
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


MAX_HARDWARE_FACTS = 20


def hardware_facts(hardware: object) -> list[tuple[str, str]]:
    """What the box said about itself at enrollment (free JSON): its scalar fields,
    the first :data:`MAX_HARDWARE_FACTS`, each cut to 200 characters."""
    if not isinstance(hardware, Mapping):
        return []
    facts = []
    for key, value in list(hardware.items())[:MAX_HARDWARE_FACTS]:
        if isinstance(value, str | int | float | bool) and isinstance(key, str):
            facts.append((key[:100], str(value)[:200]))
    return facts


def playing_asset_ids(rows: Iterable[DeviceRow]) -> set[str]:
    return {r.playing_asset_id for r in rows if r.playing_asset_id is not None}


def playing_playlist_ids(rows: Iterable[DeviceRow]) -> set[str]:
    return {r.playing_playlist_id for r in rows if r.playing_playlist_id is not None}


# ------------------------------------------------------------------ week view


@dataclass(frozen=True)
class Cell:
    """One hour of one day: who holds it (several names when it changes within)."""

    labels: tuple[str, ...]
    tier: str  # the tier holding the start of the hour (its colour)


@dataclass(frozen=True)
class WeekView:
    days: tuple[date, ...]
    hours: tuple[tuple[str, tuple[Cell, ...]], ...]  # ("09:00", a cell per day)


def week_start(day: date, timezone: str) -> datetime:
    """Local midnight of ``day`` in the device's zone (the week view's first instant)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


def week_view(
    segments: Sequence[Segment], first_day: date, timezone: str, playlist_names: Mapping[str, str]
) -> WeekView:
    """7 days x 24 hourly bands, each naming what holds it, from the rules' segments."""
    zone = ZoneInfo(timezone)
    days = tuple(first_day + timedelta(days=i) for i in range(7))
    rows: list[tuple[str, tuple[Cell, ...]]] = []
    for hour in range(HOURS_PER_DAY):
        cells = []
        for day in days:
            # Wall-clock hour in the zone; on DST days a missing hour shows what holds after it.
            start = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
            end = start + timedelta(hours=1)
            cells.append(_cell(segments, start, end, playlist_names))
        rows.append((f"{hour:02d}:00", tuple(cells)))
    return WeekView(days, tuple(rows))


def _cell(
    segments: Sequence[Segment], start: datetime, end: datetime, names: Mapping[str, str]
) -> Cell:
    labels: list[str] = []
    tier = ""
    for seg in segments:
        if seg.end <= start or seg.start >= end:
            continue
        label = (
            names.get(seg.playlist_id or "", seg.tier.value) if seg.playlist_id else seg.tier.value
        )
        if not tier:
            tier = seg.tier.value
        if not labels or labels[-1] != label:
            labels.append(label)
    return Cell(tuple(labels) or (MISSING,), tier or "none")
