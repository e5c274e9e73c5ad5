"""How long a client may take to send a request body (the rule of Apache's
mod_reqtimeout ``body=30,MinRate=500``): a grace period from the end of the
headers, extended by one second for every ``min_rate_bytes_s`` bytes received.

A client that keeps the average rate stays; one that trickles, or stops, is
past its deadline and gets a 408. Pure: times are monotonic seconds passed in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BodyReadPolicy:
    grace_s: float = 30.0
    min_rate_bytes_s: int = 500

    def __post_init__(self) -> None:
        if not self.grace_s > 0:
            raise ValueError(f"grace_s must be > 0, got {self.grace_s}")
        if self.min_rate_bytes_s < 1:
            raise ValueError(f"min_rate_bytes_s must be >= 1, got {self.min_rate_bytes_s}")

    def deadline_at(self, headers_done_at: float, received_bytes: int) -> float:
        """The instant past which the rest of the body is no longer awaited."""
        return headers_done_at + self.grace_s + received_bytes / self.min_rate_bytes_s
