"""The playlist editor's state and what its page shows, without I/O.

The editor is one form. Its items are posted in page order (a form's fields
are sent in document order, so a drag and drop that moved the rows moved
their fields): ``item-<key>-asset`` and ``item-<key>-duration_s``, where
``key`` names the row as it was rendered. Buttons name what to do: ``up``,
``down`` or ``remove`` with a row's key, ``add`` with an asset id, ``save``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from control_api.core.validation import MAX_ID_CHARS, MAX_NAME_CHARS
from control_api.errors import InvalidField
from control_api.model_fields import MAX_PLAYLIST_ITEMS
from lomuz_rules.model import DEFAULT_IMAGE_DURATION_MS, MIN_PLAY_DURATION_MS

ITEM_ASSET = re.compile(r"item-(\d{1,6})-asset")
MAX_DURATION_CHARS = 20
MAX_QUERY_CHARS = MAX_NAME_CHARS


@dataclass(frozen=True)
class DraftItem:
    asset_id: str
    duration_text: str = ""  # seconds as typed; "" is the default length


@dataclass(frozen=True)
class Draft:
    """What the editor holds: maybe not saved yet."""

    name: str
    version: int  # the version the editor was loaded at
    items: tuple[DraftItem, ...]


@dataclass(frozen=True)
class AssetFacts:
    """What the editor shows of an item's asset."""

    title: str
    media_type: str  # "audio" | "video" | "image"
    duration_ms: int | None  # the natural length (None: not known, or an image)


def _field(form: Mapping[str, str], name: str, max_chars: int) -> str:
    value = form.get(name, "")
    if len(value) > max_chars or "\x00" in value:
        raise InvalidField(name, f"must be at most {max_chars} characters of text")
    return value


def draft_from_form(form: Mapping[str, str]) -> Draft:
    """The editor's fields as posted (checked only as far as the page needs to show them)."""
    version_text = _field(form, "version", 12)
    if not version_text.isdecimal():
        raise InvalidField("version", "is missing: reload the page")
    items = []
    for name in form:
        found = ITEM_ASSET.fullmatch(name)
        if found is None:
            continue
        asset_id = _field(form, name, MAX_ID_CHARS)
        duration = _field(form, f"item-{found.group(1)}-duration_s", MAX_DURATION_CHARS)
        items.append(DraftItem(asset_id, duration.strip()))
    if len(items) > MAX_PLAYLIST_ITEMS:
        raise InvalidField("items", f"a playlist has at most {MAX_PLAYLIST_ITEMS} items")
    return Draft(_field(form, "name", MAX_NAME_CHARS), int(version_text), tuple(items))


def moved(draft: Draft, action: str, index: int) -> Draft:
    """The draft with item ``index`` moved ``up``, ``down`` or ``remove``d."""
    items = list(draft.items)
    if not 0 <= index < len(items):
        return draft
    if action == "remove":
        del items[index]
    elif action == "up" and index > 0:
        items[index - 1], items[index] = items[index], items[index - 1]
    elif action == "down" and index < len(items) - 1:
        items[index + 1], items[index] = items[index], items[index + 1]
    return replace(draft, items=tuple(items))


def duration_ms_of(text: str, field: str) -> int | None:
    """Seconds as typed (``"12"``, ``"2.5"``) in milliseconds; "" is None (the default)."""
    if not text:
        return None
    try:
        seconds = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise InvalidField(field, "must be a number of seconds, like 10 or 2.5") from None
    if not seconds.is_finite() or not MIN_PLAY_DURATION_MS <= seconds * 1000 <= 2**31 - 1:
        raise InvalidField(field, "must be from 1 second to 24 days")
    return int(seconds * 1000)


def saved_items(draft: Draft) -> list[tuple[str, int | None]]:
    """The items as the service takes them; InvalidField names a bad duration."""
    return [
        (item.asset_id, duration_ms_of(item.duration_text, f"items[{i}].duration_s"))
        for i, item in enumerate(draft.items)
    ]


def seconds_text(duration_ms: int | None) -> str:
    """A stored ``duration_ms`` as the editor's seconds field shows it."""
    if duration_ms is None:
        return ""
    whole_s, rest_ms = divmod(duration_ms, 1000)
    return f"{whole_s}.{rest_ms:03d}".rstrip("0") if rest_ms else str(whole_s)


def play_length_ms(facts: AssetFacts | None, cap_ms: int | None) -> int | None:
    """How long the item plays (PROTOCOL, Playlists): an image its duration (default
    10 s), audio and video their length, at most the cap. None: not known."""
    if facts is None:
        return None
    if facts.media_type == "image":
        shown = cap_ms if cap_ms is not None else facts.duration_ms
        return DEFAULT_IMAGE_DURATION_MS if shown is None else max(MIN_PLAY_DURATION_MS, shown)
    if facts.duration_ms is None:
        return None
    return facts.duration_ms if cap_ms is None else min(facts.duration_ms, cap_ms)


@dataclass(frozen=True)
class Length:
    known_ms: int
    unknown: int  # items whose length is not known

    @property
    def text(self) -> str:
        shown = length_text(self.known_ms)
        if not self.unknown:
            return shown
        items = "item" if self.unknown == 1 else "items"
        return f"{shown} + {self.unknown} {items} of unknown length"


def total_length(lengths: Sequence[int | None]) -> Length:
    return Length(sum(n for n in lengths if n is not None), sum(1 for n in lengths if n is None))


def length_text(duration_ms: int | None) -> str:
    """``1 h 02 min 05 s``, ``3 min 20 s``, ``12 s``; None is "unknown"."""
    if duration_ms is None:
        return "unknown"
    total_s = round(duration_ms / 1000)
    hours, rest = divmod(total_s, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {seconds:02d} s"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


@dataclass(frozen=True)
class ItemRow:
    key: int
    asset_id: str
    title: str
    media_type: str
    duration_text: str
    length_ms: int | None
    known_asset: bool

    @property
    def default_hint(self) -> str:
        """What an empty duration field means for this item."""
        if self.media_type == "image":
            return f"default {DEFAULT_IMAGE_DURATION_MS // 1000} s"
        return "full length"


def item_rows(draft: Draft, facts: Mapping[str, AssetFacts]) -> tuple[list[ItemRow], Length]:
    """The rows the editor shows, and the total (a duration not yet valid counts as
    none: the save names it)."""
    rows = []
    for key, item in enumerate(draft.items):
        asset = facts.get(item.asset_id)
        try:
            cap_ms = duration_ms_of(item.duration_text, "duration")
        except InvalidField:
            cap_ms = None
        rows.append(
            ItemRow(
                key=key,
                asset_id=item.asset_id,
                title=asset.title if asset else item.asset_id,
                media_type=asset.media_type if asset else "unknown",
                duration_text=item.duration_text,
                length_ms=play_length_ms(asset, cap_ms),
                known_asset=asset is not None,
            )
        )
    return rows, total_length([r.length_ms for r in rows])
