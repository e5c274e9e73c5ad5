"""The gain rule: how much louder or quieter an item plays so everything sounds alike (issue 14).

Pure: numbers in, a gain in dB out. The API measures each file once at ingest
(EBU R128 integrated loudness and true peak, DESIGN.md §8 "Sound"); the player
applies the gain this module computes, on top of the master volume.

Invariants
----------
* A measured item's gain is ``target_lufs + offset_db(tier) - loudness_lufs``:
  every item at the target, announcements and jingles at their own offset.
* The gained true peak never exceeds the ceiling: when the peak is known,
  ``true_peak_dbtp + gain_db <= max_true_peak_dbtp``, whatever the target,
  the offset or the loudness (a peaky quiet track plays below the target
  rather than clip).
* A boost never exceeds ``max_boost_db`` (a near-silent file is not raised
  into noise); a cut is never limited.
* An unmeasured item (loudness unknown: not measured yet, an older API, a
  custom jingle) plays at 0 dB, exactly as the file is, as before issue 14:
  a guess could make it inaudible or clip it, and the API's measurement
  arrives with a later sync. A known peak still caps it, so the ceiling
  holds for every item whose peak is known.
* The gain is monotonic: a louder file never gets a higher gain.
"""

from __future__ import annotations

from dataclasses import dataclass

# The tiers that carry their own offset (``lomuz_rules.model.Tier`` values;
# kept as text so this module needs nothing but numbers).
OFFSET_TIERS = ("override", "playlist", "emergency", "jingle")


@dataclass(frozen=True, slots=True)
class LoudnessSettings:
    """The ``[audio]`` section: where items are levelled to, and the limits."""

    target_lufs: float = -18.0
    max_true_peak_dbtp: float = -1.0
    max_boost_db: float = 12.0
    override_offset_db: float = 0.0
    emergency_offset_db: float = 0.0
    jingle_offset_db: float = 0.0

    def offset_db(self, tier: str) -> float:
        """The offset of an item of ``tier`` (a ``Tier`` value); playlist items have none."""
        if tier == "override":
            return self.override_offset_db
        if tier == "emergency":
            return self.emergency_offset_db
        if tier == "jingle":
            return self.jingle_offset_db
        return 0.0


@dataclass(frozen=True, slots=True)
class Gain:
    """An item's gain and why (``lomuz-player status`` shows both)."""

    gain_db: float
    reason: str  # "target", "peak-limited", "boost-limited", "unmeasured"


# An item played as its file is (no measurement, or before any rule ran).
UNITY_GAIN = Gain(0.0, "unmeasured")


def item_gain(
    loudness_lufs: float | None,
    true_peak_dbtp: float | None,
    tier: str,
    settings: LoudnessSettings,
) -> Gain:
    """The gain in dB for an item measured at ``loudness_lufs`` (None: unmeasured)."""
    if loudness_lufs is None:
        wanted, reason = UNITY_GAIN.gain_db, UNITY_GAIN.reason
    else:
        wanted, reason = settings.target_lufs + settings.offset_db(tier) - loudness_lufs, "target"
        if wanted > settings.max_boost_db:
            wanted, reason = settings.max_boost_db, "boost-limited"
    if true_peak_dbtp is not None:
        room_db = settings.max_true_peak_dbtp - true_peak_dbtp
        if wanted > room_db:
            wanted, reason = room_db, "peak-limited"
    return Gain(wanted, reason)
