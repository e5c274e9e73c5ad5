"""What the media pages show and read: durations, validity windows, and the
``datetime-local`` inputs of the edit form (in UTC, which the page says)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from control_api.core import validation as v
from control_api.errors import InvalidField
from control_api.panel.device_views import MISSING, instant, size

__all__ = ["MISSING", "asset_changes", "duration", "input_value", "instant", "size", "window"]

LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
MAX_INPUT_CHARS = 32
MS_PER_S = 1000


def duration(duration_ms: int | None) -> str:
    """``3:07`` (or ``1:02:03``); ``—`` when the asset has none (an image)."""
    if duration_ms is None:
        return MISSING
    total_s = round(duration_ms / MS_PER_S)
    hours, rest = divmod(total_s, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def loudness(
    state: str | None,
    *,
    lufs: float | None,
    peak_dbtp: float | None,
    cue_in_ms: int | None,
    cue_out_ms: int | None,
    reason: str | None,
) -> str:
    """The measuring of an asset in a line (issue 14): ``-14.2 LUFS, true peak -1.0 dBTP,
    sound 0.50 s to 181.20 s``; ``Measuring…``; ``Not measured: <why>``; ``—`` for images."""
    if state is None:
        return MISSING
    if state == "pending":
        return "Measuring…" if not reason else f"Measuring… (last try: {reason})"
    if state == "failed" or cue_in_ms is None or cue_out_ms is None:
        return f"Not measured: {reason or 'unknown reason'}"
    sound = f"sound {cue_in_ms / MS_PER_S:.2f} s to {cue_out_ms / MS_PER_S:.2f} s"
    if lufs is None or peak_dbtp is None:
        return f"No loudness ({reason or 'silent'}), {sound}"
    return f"{lufs:.1f} LUFS, true peak {peak_dbtp:.1f} dBTP, {sound}"


def utc_text(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def window(valid_from: datetime | None, valid_until: datetime | None) -> str:
    """The validity window in words: ``always``, ``from …``, ``until …``, ``… to …``."""
    if valid_from is None and valid_until is None:
        return "always"
    if valid_until is None:
        return f"from {utc_text(valid_from)}"
    if valid_from is None:
        return f"until {utc_text(valid_until)}"
    return f"{utc_text(valid_from)} to {utc_text(valid_until)}"


def input_value(at: datetime | None) -> str:
    """An instant as a ``datetime-local`` value, in UTC."""
    return "" if at is None else at.astimezone(UTC).strftime(LOCAL_INPUT_FORMAT)


def _utc_input(form: Mapping[str, str], field: str) -> datetime | None:
    """A ``datetime-local`` value read as UTC; empty: no bound."""
    raw = form.get(field, "").strip()
    if not raw:
        return None
    if len(raw) > MAX_INPUT_CHARS:
        raise InvalidField(field, f"must be at most {MAX_INPUT_CHARS} characters")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidField(field, "must be a date and time, YYYY-MM-DDTHH:MM (UTC)") from None
    if parsed.tzinfo is not None or "T" not in raw.upper():
        raise InvalidField(field, "must be a date and time in UTC, YYYY-MM-DDTHH:MM")
    # The one instant parser checks the range (1970 to 9999) and says so.
    return v.parse_instant(parsed.replace(tzinfo=UTC).isoformat(), field)


def _title(form: Mapping[str, str]) -> str | None:
    title = form.get("title", "").strip()
    return v.as_str(title, "title") if title else None


def asset_changes(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The edit form as ``edit_asset`` changes, and the problems by field (then no change)."""
    changes: dict[str, Any] = {"emergency": form.get("emergency") == "yes"}
    problems: dict[str, str] = {}
    readers: dict[str, Callable[[], object]] = {
        "title": lambda: _title(form),
        "valid_from": lambda: _utc_input(form, "valid_from"),
        "valid_until": lambda: _utc_input(form, "valid_until"),
    }
    for field, read in readers.items():
        try:
            changes[field] = read()
        except InvalidField as bad:
            problems[field] = bad.message.removeprefix(f"{field}: ")
    if not problems:
        try:
            v.check_window(changes["valid_from"], changes["valid_until"], "valid_until")
        except InvalidField as bad:
            problems["valid_until"] = bad.message.removeprefix("valid_until: ")
    return changes, problems
