"""What holds when, over a range: the panel's week view of one device.

Invariants
----------
* :func:`timeline` cuts ``[start, end)`` into contiguous segments
  ``[segment.start, segment.end)``; the first starts at ``start``, the last
  ends at ``end``, each ends where the next starts.
* A segment carries the decision's tier, schedule id and playlist id, which
  are the rules' (:func:`lomuz_rules.schedule.decide`) at every instant in it.
  They depend on time alone (validity, dayparts, file presence and
  quarantine), never on rotation or the emergency draw, so the asset is not
  part of a segment.
* Built by walking ``next_boundary_at``: the decision at ``t`` holds until its
  boundary (which may be early, never late). Neighbouring pieces with the same
  decision are merged, so a boundary that changed nothing (a DST transition, an
  asset edge inside a playlist still playable) leaves no cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lomuz_rules.model import Tier
from lomuz_rules.schedule import Catalogue, decide

# A range longer than this is not a "week view"; refusing bounds the walk.
MAX_RANGE = timedelta(days=62)


@dataclass(frozen=True)
class Segment:
    """``[start, end)`` (UTC) during which ``tier``/``schedule_id``/``playlist_id`` hold."""

    start: datetime
    end: datetime
    tier: Tier
    schedule_id: str | None
    playlist_id: str | None


def _first(candidates: Sequence[str]) -> str:
    return candidates[0]


def timeline(
    catalogue: Catalogue,
    start: datetime,
    end: datetime,
    fallback: Tier = Tier.JINGLE,
) -> list[Segment]:
    """The segments of ``[start, end)`` with the decision that holds in each."""
    for name, instant in (("start", start), ("end", end)):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {instant!r}")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    if end - start > MAX_RANGE:
        raise ValueError(f"the range is longer than {MAX_RANGE.days} days")
    segments: list[Segment] = []
    at = start
    while at < end:
        # A fixed choice: the emergency draw does not change the tier.
        decision = decide(catalogue, at, fallback, choice=_first)
        boundary = decision.next_boundary_at
        until = end if boundary is None or boundary > end else boundary
        key = (decision.tier, decision.schedule_id, decision.playlist_id)
        last = segments[-1] if segments else None
        if last is not None and (last.tier, last.schedule_id, last.playlist_id) == key:
            segments[-1] = Segment(last.start, until, *key)
        else:
            segments.append(Segment(at, until, *key))
        at = until
    return segments
