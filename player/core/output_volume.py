"""libvlc 3's volume scale, and the one way the player's levels combine on it (issue 14).

libvlc's volume percent is not linear in amplitude: measured on its PulseAudio
output (a null sink recorded with parec, docs/BENCHMARKS.md), a sine played at
``p`` % comes out at ``(p / 100) ** 3`` of its amplitude (25 % -> 0.016,
50 % -> 0.125, 126 % -> 2.0, 200 % -> 8.0, within 0.5 %). So the player works
in amplitude and converts once, here: the master volume (the remote command
``volume``, 0..100 on libvlc's scale, as before), the crossfade gain (amplitude
0..1) and the loudness gain (dB) multiply as amplitudes.

The percent is capped at ``MAX_PERCENT`` (200 %, x8 amplitude, +18 dB): measured
to hold on PulseAudio (250 % did too), but libvlc documents no maximum and its
outputs' software amplifiers are not all alike, so the player asks no more. A
request above it plays at the cap. Percents are whole numbers: near 100 % one
step is 0.26 dB.
"""

from __future__ import annotations

import math

MAX_PERCENT = 200
MAX_MASTER_PERCENT = 100
# 20 * log10(8): the most the output can raise an item above its file's level.
MAX_GAIN_DB = 60 * math.log10(MAX_PERCENT / 100)


def amplitude_of_percent(percent: float) -> float:
    """The amplitude factor libvlc applies at ``percent`` (0 -> 0, 100 -> 1, 200 -> 8)."""
    return (max(0.0, percent) / 100) ** 3


def percent_of_amplitude(amplitude: float) -> int:
    """The libvlc percent that plays at ``amplitude``, rounded, within 0..MAX_PERCENT."""
    if amplitude <= 0:
        return 0
    return min(MAX_PERCENT, round(100 * math.pow(amplitude, 1 / 3)))


def amplitude_of_db(gain_db: float) -> float:
    return 10 ** (gain_db / 20)


def output_percent(master_percent: int, fade: float, gain_db: float) -> int:
    """What libvlc is told for an item: master volume x crossfade x loudness gain."""
    amplitude = amplitude_of_percent(master_percent) * max(0.0, fade) * amplitude_of_db(gain_db)
    return percent_of_amplitude(amplitude)
