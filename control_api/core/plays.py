"""Proof of play as devices upload it: each play validated on its own.

Invariants:

- A batch is never refused for one bad play: a player retries a refused batch,
  oldest first, so one play the API cannot take would block its proof of play
  for good. Each play is either valid (stored, or counted a duplicate) or
  rejected with a code and never stored; ``accepted + duplicates +
  len(rejected)`` is the number of plays sent.
- A play id is a UUID in any spelling; it is canonicalised (lowercase,
  hyphenated) before deduplication, so the same UUID spelled three ways is one
  play.
- Every stored string fits its column (``models.Play``) and holds no NUL; both
  instants are in range and ``ended_at >= started_at``.
- Whether the asset (id and sha256) is the tenant's is checked by the caller
  against the store (:func:`check_asset`), after these pure rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from control_api.core import validation as v
from control_api.errors import InvalidField

SOURCES = ("override", "playlist", "emergency", "jingle")
OUTCOMES = ("completed", "skipped", "error")
REQUIRED = ("id", "asset_id", "sha256", "started_at", "ended_at", "source", "outcome")
# A rejected play's id is echoed as given, cut to this many characters.
ECHO_ID_CHARS = 64


@dataclass(frozen=True)
class Rejection:
    """One play refused: its id as sent (cut short; None if not a string), why, where."""

    id: str | None
    code: str
    field: str
    message: str


def parse_play(item: object, field: str) -> dict[str, Any]:
    """One Play, with its canonical id; fields a newer player adds are ignored.

    Raises :class:`InvalidField` whose ``code`` is the rejection code.
    """
    if not isinstance(item, dict):
        raise InvalidField(field, "must be an object", "not_an_object")
    for key in REQUIRED:
        if key not in item:
            raise InvalidField(f"{field}.{key}", "is required", "missing_field")
    raw_id = item["id"]
    play_id = v.canonical_uuid(raw_id) if isinstance(raw_id, str) else None
    if play_id is None:
        raise InvalidField(f"{field}.id", "must be a UUID", "bad_id")
    sha256 = item["sha256"]
    if not isinstance(sha256, str) or not v.is_sha256(sha256):
        raise InvalidField(f"{field}.sha256", "must be 64 lowercase hex characters", "bad_sha256")
    asset_id = _text(item["asset_id"], f"{field}.asset_id")
    started_at = _instant(item["started_at"], f"{field}.started_at")
    ended_at = _instant(item["ended_at"], f"{field}.ended_at")
    if ended_at < started_at:
        raise InvalidField(f"{field}.ended_at", "must not be before started_at", "bad_interval")
    source = item["source"]
    if source not in SOURCES:
        raise InvalidField(f"{field}.source", f"must be one of {', '.join(SOURCES)}", "bad_source")
    outcome = item["outcome"]
    if outcome not in OUTCOMES:
        raise InvalidField(
            f"{field}.outcome", f"must be one of {', '.join(OUTCOMES)}", "bad_outcome"
        )
    optional: dict[str, str | None] = {}
    for key in ("schedule_id", "playlist_id"):
        value = item.get(key)
        optional[key] = None if value is None else _text(value, f"{field}.{key}")
    return {
        "id": play_id,
        "asset_id": asset_id,
        "sha256": sha256,
        "started_at": started_at,
        "ended_at": ended_at,
        "source": source,
        "outcome": outcome,
        **optional,
    }


def reject(item: object, exc: InvalidField) -> Rejection:
    raw_id = item.get("id") if isinstance(item, dict) else None
    echoed = raw_id[:ECHO_ID_CHARS] if isinstance(raw_id, str) else None
    return Rejection(echoed, exc.code, exc.field, exc.message)


def check_asset(play: Mapping[str, Any], known: Mapping[str, str | None], field: str) -> None:
    """The play's asset must be the tenant's: ``known`` maps the tenant's asset ids to
    their sha256, or to None for an asset deleted since (its plays are still proof
    of play; its hash is no longer known).

    A ``jingle`` play is the player's built-in fallback, no asset of any tenant:
    it is proof that the shop heard the jingle, and is kept as sent.
    """
    if play["source"] == "jingle":
        return
    asset_id = play["asset_id"]
    if asset_id not in known:
        raise InvalidField(f"{field}.asset_id", "no such asset in this tenant", "unknown_asset")
    sha256 = known[asset_id]
    if sha256 is not None and sha256 != play["sha256"]:
        raise InvalidField(f"{field}.sha256", "is not the hash of that asset", "unknown_asset")


def _text(value: object, field: str) -> str:
    try:
        return v.as_str(value, field, max_chars=v.MAX_ID_CHARS)
    except InvalidField as exc:
        raise InvalidField(field, exc.message.removeprefix(f"{field}: "), "bad_field") from None


def _instant(value: object, field: str) -> datetime:
    try:
        return v.parse_instant(value, field)
    except InvalidField as exc:
        raise InvalidField(field, exc.message.removeprefix(f"{field}: "), "bad_instant") from None
