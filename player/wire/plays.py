"""Proof of play on the wire: ``POST /v1/device/plays`` bodies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from player.core.model import Play
from player.wire.structs import MAX_PLAYS_PER_UPLOAD


def format_instant(at: datetime) -> str:
    """An instant as RFC 3339 in UTC with a ``Z`` suffix; naive datetimes are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: instants must carry a zone")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_play(play: Play) -> dict[str, Any]:
    """A Play as PROTOCOL.md JSON; ``schedule_id``/``playlist_id`` only when known."""
    out: dict[str, Any] = {
        "id": play.id,
        "asset_id": play.asset_id,
        "sha256": play.sha256,
        "started_at": format_instant(play.started_at),
        "ended_at": format_instant(play.ended_at),
        "source": play.source.value,
        "outcome": play.outcome.value,
    }
    if play.schedule_id is not None:
        out["schedule_id"] = play.schedule_id
    if play.playlist_id is not None:
        out["playlist_id"] = play.playlist_id
    return out


def encode_plays(plays: Iterable[Play]) -> dict[str, Any]:
    """The body of ``POST /v1/device/plays``; at most ``MAX_PLAYS_PER_UPLOAD`` plays."""
    encoded: Sequence[dict[str, Any]] = [encode_play(p) for p in plays]
    if len(encoded) > MAX_PLAYS_PER_UPLOAD:
        raise ValueError(
            f"{len(encoded)} plays in one upload; the API takes at most {MAX_PLAYS_PER_UPLOAD}"
        )
    return {"plays": list(encoded)}
