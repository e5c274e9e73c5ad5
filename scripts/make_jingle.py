"""Generate player/data/jingle.wav: an original ~3 s chime, stdlib only, deterministic.

Three soft bell strikes (an ascending major arpeggio) built from sine partials
with an exponential decay and a short attack, mixed, normalised and written as
44.1 kHz 16-bit mono WAV. Run: ``.venv/bin/python scripts/make_jingle.py``.
"""

from __future__ import annotations

import argparse
import math
import struct
import wave
from pathlib import Path

SAMPLE_RATE_HZ = 44_100
DURATION_S = 3.0
PEAK = 0.6  # of full scale: pleasant, not loud
# (onset_s, fundamental_hz): C5, E5, G5, then C6 held.
STRIKES = ((0.0, 523.25), (0.28, 659.25), (0.56, 783.99), (0.84, 1046.50))
# (ratio to the fundamental, relative amplitude, decay time constant s): a soft bell.
PARTIALS = ((1.0, 1.0, 0.9), (2.0, 0.35, 0.5), (3.0, 0.12, 0.3), (4.2, 0.05, 0.2))
ATTACK_S = 0.008
FADE_OUT_S = 0.25


def render() -> list[float]:
    """The chime as floats in [-PEAK, PEAK]."""
    n = int(SAMPLE_RATE_HZ * DURATION_S)
    out = [0.0] * n
    for onset_s, f0_hz in STRIKES:
        start = int(onset_s * SAMPLE_RATE_HZ)
        for i in range(start, n):
            t = (i - start) / SAMPLE_RATE_HZ
            attack = min(1.0, t / ATTACK_S)
            s = 0.0
            for ratio, amp, tau_s in PARTIALS:
                s += amp * math.exp(-t / tau_s) * math.sin(2 * math.pi * f0_hz * ratio * t)
            out[i] += attack * s
    fade_start = n - int(FADE_OUT_S * SAMPLE_RATE_HZ)
    for i in range(fade_start, n):
        out[i] *= (n - i) / (n - fade_start)
    peak = max(abs(x) for x in out) or 1.0
    return [x * PEAK / peak for x in out]


def write_wav(path: Path, samples: list[float]) -> None:
    frames = b"".join(struct.pack("<h", round(x * 32767)) for x in samples)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(__file__).resolve().parent.parent / "player" / "data" / "jingle.wav"
    parser.add_argument("--out", type=Path, default=default)
    args = parser.parse_args()
    write_wav(args.out, render())
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
