"""Remote commands on the player: which to run, which were run, what a snapshot says.

Invariants:
- A command runs at most once per id: the ids run are remembered (the newest
  :data:`MAX_REMEMBERED`, in memory and in the device state), so a broker
  redelivery, the HTTP pick-up and a restart in between cannot run one twice.
- A command is not run once the corrected clock is past its ``expires_at``.
- Decoding what was stored never raises: a damaged value is an empty memory.
Times are aware datetimes, passed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from lomuz_rules.commands import MAX_COMMAND_ID_CHARS, CommandMessage
from player.core.status import NowPlaying

MAX_REMEMBERED = 500


def is_expired(message: CommandMessage, now: datetime) -> bool:
    return now > message.expires_at


def remembered(ids: Iterable[str], new_id: str, limit: int = MAX_REMEMBERED) -> list[str]:
    """``ids`` (oldest first) with ``new_id`` appended, the oldest dropped past ``limit``."""
    kept = [i for i in ids if i != new_id]
    kept.append(new_id)
    return kept[-limit:]


def encode_run_ids(ids: Iterable[str]) -> str:
    return json.dumps(list(ids), separators=(",", ":"))


def decode_run_ids(raw: str | None) -> list[str]:
    """The stored ids; [] for nothing stored or anything damaged."""
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    return [i for i in data if isinstance(i, str) and len(i) <= MAX_COMMAND_ID_CHARS][
        -MAX_REMEMBERED:
    ]


def position_ms(now_playing: NowPlaying, now: datetime) -> int | None:
    """How far into the current item playback is (None when nothing plays)."""
    if now_playing.state != "playing" or now_playing.started_at is None:
        return None
    return max(0, round((now - now_playing.started_at).total_seconds() * 1000))


def snapshot(
    now_playing: NowPlaying,
    *,
    now: datetime,
    titles: Mapping[str, str],
    volume_percent: int,
) -> dict[str, Any]:
    """What the ``snapshot`` command answers: the item, tier, position, volume, output."""
    item = None
    if now_playing.asset_id is not None:
        item = {"asset_id": now_playing.asset_id, "sha256": now_playing.sha256}
        title = titles.get(now_playing.asset_id)
        if title:
            item["title"] = title
    return {
        "at": now.isoformat(),
        "state": now_playing.state,
        "item": item,
        "tier": None if now_playing.tier is None else str(now_playing.tier),
        "schedule_id": now_playing.schedule_id,
        "playlist_id": now_playing.playlist_id,
        "position_ms": position_ms(now_playing, now),
        "volume": volume_percent,
        "output": {
            "audio": now_playing.audio_output,
            "problem": now_playing.audio_problem,
            "overlap": now_playing.supports_overlap,
        },
    }
