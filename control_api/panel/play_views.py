"""What the Plays page shows, built from the plays service's counts: the date range
asked for, the bar charts' geometry (inline SVG, drawn on the server), the CSV rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from control_api.core.export import csv_cell
from control_api.core.validation import format_instant
from control_api.errors import InvalidField
from control_api.services.plays import Count, NamedPlay

DEFAULT_DAYS = 7
MAX_DAYS = 366
MAX_LABEL_CHARS = 32  # a bar's label; its <title> and the table keep the whole name
MAX_DAY_LABELS = 8  # under the day chart: every k-th day, so that 390 px fit them
CSV_FIELDS = (
    "started_at",
    "ended_at",
    "asset_title",
    "asset_id",
    "device_name",
    "device_id",
    "outcome",
    "source",
    "sha256",
    "schedule_id",
    "playlist_id",
    "play_id",
)
# Spreadsheets read a file without it as their local code page (titles come out garbled).
UTF8_BOM = "\ufeff"


@dataclass(frozen=True)
class DayRange:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``: UTC days, both included."""

    first: date
    last: date
    is_default: bool = False

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def query(self) -> str:
        return urlencode({"from": self.first.isoformat(), "to": self.last.isoformat()})

    def csv_filename(self) -> str:
        return f"plays-{self.first.isoformat()}-to-{self.last.isoformat()}.csv"


def _day(raw: str, name: str) -> date:
    try:
        if len(raw) != len("YYYY-MM-DD"):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidField(name, "must be a date, YYYY-MM-DD") from None


def day_range(first_text: str, last_text: str, now: datetime) -> DayRange:
    """The range asked for; without ``to`` it ends today (UTC), without ``from`` it is
    the :data:`DEFAULT_DAYS` days up to ``to``."""
    last = _day(last_text, "to") if last_text else now.astimezone(UTC).date()
    first = _day(first_text, "from") if first_text else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidField("from", f"must be on or before to ({last.isoformat()})")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidField("to", f"a range is at most {MAX_DAYS} days")
    return DayRange(first, last, is_default=not first_text and not last_text)


# ------------------------------------------------------------------ charts


@dataclass(frozen=True)
class Bar:
    """One bar; ``x_pct``/``width_pct`` and ``y_px``/``height_px`` are SVG attributes:
    widths in % of the chart (it fills its column), heights in px (text keeps its size)."""

    key: str
    label: str  # shortened for the chart
    name: str  # in full: the bar's <title> and the table
    plays: int
    x_pct: float
    width_pct: float
    y_px: float
    height_px: float


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    height_px: int
    top: int  # the largest count (the scale)
    tick_keys: frozenset[str] = frozenset()  # day charts: the days labelled below


DAY_CHART_PX = 160  # the columns' area; labels below
ROW_PX = 26  # a row of a top chart
LABEL_PCT = 42.0  # a top chart's labels; bars and counts share the rest
BAR_PCT = 46.0


def short(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def day_label(key: str) -> str:
    return date.fromisoformat(key).strftime("%a %d %b")


def day_chart(per_day: Sequence[Count]) -> Chart:
    """Columns, one per day, oldest left."""
    top = max((c.plays for c in per_day), default=0)
    slot = 100.0 / max(1, len(per_day))
    every = max(1, -(-len(per_day) // MAX_DAY_LABELS))  # ceil: at most MAX_DAY_LABELS labels
    bars = []
    for i, count in enumerate(per_day):
        height = DAY_CHART_PX * count.plays / top if top else 0.0
        bars.append(
            Bar(
                key=count.key,
                label=date.fromisoformat(count.key).strftime("%d %b"),
                name=day_label(count.key),
                plays=count.plays,
                x_pct=round(i * slot + slot * 0.1, 3),
                width_pct=round(slot * 0.8, 3),
                y_px=round(DAY_CHART_PX - height, 2),
                height_px=round(height, 2),
            )
        )
    ticks = frozenset(c.key for i, c in enumerate(per_day) if i % every == 0)
    return Chart(tuple(bars), DAY_CHART_PX + 24, top, ticks)


def top_chart(counts: Sequence[Count]) -> Chart:
    """Horizontal bars, most first: the name (the id when the asset or device is gone)."""
    top = max((c.plays for c in counts), default=0)
    bars = []
    for i, count in enumerate(counts):
        name = count.name or count.key
        width = BAR_PCT * count.plays / top if top else 0.0
        bars.append(
            Bar(
                key=count.key,
                label=short(name),
                name=name,
                plays=count.plays,
                x_pct=LABEL_PCT,
                width_pct=round(width, 3),
                y_px=i * ROW_PX + 4,
                height_px=ROW_PX - 8,
            )
        )
    return Chart(tuple(bars), max(1, len(counts)) * ROW_PX, top)


# ------------------------------------------------------------------ CSV


def csv_row(named: NamedPlay) -> list[str]:
    play = named.play
    values: dict[str, object] = {
        "started_at": format_instant(play.started_at),
        "ended_at": format_instant(play.ended_at),
        "asset_title": named.asset_title,
        "asset_id": play.asset_id,
        "device_name": named.device_name,
        "device_id": play.device_id,
        "outcome": play.outcome,
        "source": play.source,
        "sha256": play.sha256,
        "schedule_id": play.schedule_id,
        "playlist_id": play.playlist_id,
        "play_id": play.id,
    }
    return [csv_cell(values[f]) for f in CSV_FIELDS]


def csv_chunks(pages: Iterable[Sequence[NamedPlay]]) -> Iterator[bytes]:
    """The export as bytes: the header (after a UTF-8 BOM) with the first page, then
    one chunk per page; RFC 4180 quoting, every cell safe from formula evaluation."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(UTF8_BOM)
    writer.writerow(CSV_FIELDS)
    for rows in pages:
        writer.writerows(csv_row(r) for r in rows)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
