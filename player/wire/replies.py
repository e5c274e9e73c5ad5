"""The API's answers to the device endpoints, as the player's runtime sees them.

Built by the HTTP adapter (``player.adapters.http_api``) after it checked the
status and bounded the body; read by the syncer and the telemetry uploader
through ``player.ports``. No HTTP types here: headers are already parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from player.core.clock import ServerTime


@dataclass(frozen=True)
class ManifestFetch:
    """One manifest request.

    ``cursor`` is the ETag without quotes (for a 304: the cursor we sent).
    ``server_date`` is the ``Date`` header, parsed once by the HTTP adapter
    (tz-aware, 1 s resolution), or None. ``sent_monotonic_s``/``received_monotonic_s``
    bracket the request and ``received_at`` is the local wall clock (UTC) at
    reception; ``server_time`` hands the three to the clock, and
    ``server_date_offset_s`` is ``player.core.clock.offset_from_date``'s
    answer (the one offset rule).
    """

    not_modified: bool
    body: bytes | None
    cursor: str | None
    server_date: datetime | None
    sent_monotonic_s: float
    received_monotonic_s: float
    received_at: datetime

    @property
    def round_trip_s(self) -> float:
        return self.received_monotonic_s - self.sent_monotonic_s

    @property
    def server_time(self) -> ServerTime | None:
        """The ``Date`` and the request's timing, for ``SystemClock.observe_server_time``."""
        if self.server_date is None:
            return None
        return ServerTime(self.server_date, self.sent_monotonic_s, self.received_monotonic_s)

    @property
    def server_date_offset_s(self) -> float | None:
        """Seconds to add to the local clock (``offset_from_date``: mid-flight, +0.5 s)."""
        server = self.server_time
        return None if server is None else server.offset_s(self.received_at)


@dataclass(frozen=True)
class PlaysAck:
    """The API's answer to a batch: every play is accepted, a duplicate, or rejected.

    ``rejected`` holds (play id as the API echoed it, code); an API older than
    per-play validation never sends it.
    """

    accepted: int
    duplicates: int
    rejected: tuple[tuple[str | None, str], ...] = ()
