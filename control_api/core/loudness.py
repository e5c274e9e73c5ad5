"""Loudness, true peak and cue points from ffmpeg's report (issue 14). Pure.

The adapter (``control_api.loudness_ffmpeg``) runs one ffmpeg pass over the
stored file, ``ebur128=peak=true`` then ``silencedetect``, with ``-progress`` on
stdout; :func:`parse_measurement` reads what it printed. Invariants:

- The numbers come from one place only: the ``ebur128`` summary block (the lines
  after ``[Parsed_ebur128_N @ 0x…] Summary:``, up to the next ``[`` line), with
  exactly one ``I: … LUFS`` and one ``Peak: … dBFS`` in it. Metadata of the file
  (tags, titles) is printed indented under ``Input #0`` and never starts a line
  with ``[``, so a tag cannot pass for a measurement. Anything else (no summary,
  two summaries, a value that is not a finite number in range, silences that do
  not alternate start/end or go backwards) is a :class:`MeasurementFailed`
  (not retryable: the same bytes print the same thing), never a number.
- A file is *silent* when ebur128 gated every block away (``I: -70.0 LUFS``,
  its floor) or found no peak (``-inf``): loudness and true peak are None and
  ``note`` says why; the cue points are then 0 and the decoded length.
- Cue points (ms, within ``[0, decoded_ms]``): a silence that starts within
  :data:`EDGE_MS` of 0 ends at ``cue_in_ms``; a silence that has no end, or ends
  within :data:`EDGE_MS` of the end, starts at ``cue_out_ms``; else 0 and the
  decoded length. A file that is silence (per ``silencedetect``) from end to end
  but not silent to ebur128 keeps its loudness and is not trimmed.
- The decoded length is ffmpeg's own (``out_time_us`` of the ``progress=end``
  block), not the container's claim nor the director's ``duration_ms``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from control_api.errors import MeasurementFailed

# silencedetect's settings (the adapter passes them; the rules below assume them).
SILENCE_NOISE_DB = -50
SILENCE_MIN_S = 0.5
EDGE_MS = 50
# ebur128's absolute gate: an integrated loudness at this floor measured nothing.
GATED_FLOOR_LUFS = -70.0
# Beyond these a report is not believed (a full-scale square wave is about +3 LUFS;
# float files may go over 0 dBFS, not by 40 dB).
MAX_LOUDNESS_LUFS = 30.0
MAX_TRUE_PEAK_DBTP = 40.0
# Failed attempts are retried after these delays; one more failure gives up.
RETRY_DELAYS_S = (60, 600, 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_SUMMARY = re.compile(r"\[Parsed_ebur128_\d+ @ 0x[0-9a-fA-F]+\] Summary:")
_INTEGRATED = re.compile(rf"\s*I:\s+({_NUMBER}|-?inf|nan) LUFS")
_PEAK = re.compile(rf"\s*Peak:\s+({_NUMBER}|-?inf|nan) dBFS")
_SILENCE_START = re.compile(rf"\[silencedetect @ 0x[0-9a-fA-F]+\] silence_start: ({_NUMBER})")
_SILENCE_END = re.compile(
    rf"\[silencedetect @ 0x[0-9a-fA-F]+\] silence_end: ({_NUMBER}) \| silence_duration: {_NUMBER}"
)
_OUT_TIME = re.compile(r"out_time_us=(\d{1,15})")


@dataclass(frozen=True)
class Measurement:
    """What one ffmpeg pass says of a file; None loudness/peak: silent (``note`` says why)."""

    loudness_lufs: float | None
    true_peak_dbtp: float | None
    cue_in_ms: int
    cue_out_ms: int
    decoded_ms: int
    note: str | None = None


Silence = tuple[int, int | None]  # (start ms, end ms or None: runs to the end)


def parse_measurement(stderr: str, progress: str) -> Measurement:
    """The measurement ffmpeg printed (``stderr``) over a file of the decoded length
    ``progress`` reports; MeasurementFailed (not retryable) when it is not one."""
    decoded_ms = decoded_length_ms(progress)
    lines = stderr.splitlines()
    loudness, peak = _summary(lines)
    silences = parse_silences(lines, decoded_ms)
    if loudness <= GATED_FLOOR_LUFS or peak == -math.inf:
        return Measurement(
            None, None, 0, decoded_ms, decoded_ms, "silent throughout: nothing to measure"
        )
    cue_in_ms, cue_out_ms = cue_points(silences, decoded_ms)
    note = None
    if (cue_in_ms, cue_out_ms) == (0, decoded_ms) and is_silence_throughout(silences, decoded_ms):
        note = f"below {SILENCE_NOISE_DB} dB throughout: not trimmed"
    return Measurement(loudness, peak, cue_in_ms, cue_out_ms, decoded_ms, note)


def silent_measurement(decoded_ms: int, note: str) -> Measurement:
    """A file with nothing to measure (a video without an audio track)."""
    return Measurement(None, None, 0, decoded_ms, decoded_ms, note)


def decoded_length_ms(progress: str) -> int:
    """ms decoded, from the last ``out_time_us`` before ``progress=end``."""
    out_time_us: int | None = None
    ended = False
    for raw in progress.splitlines():
        line = raw.strip()
        found = _OUT_TIME.fullmatch(line)
        if found:
            out_time_us = int(found.group(1))
        elif line == "progress=end":
            ended = True
            break
    if not ended or out_time_us is None:
        raise MeasurementFailed("ffmpeg did not report how much audio it decoded", retryable=False)
    return (out_time_us + 500) // 1000


def _summary(lines: list[str]) -> tuple[float, float]:
    starts = [i for i, line in enumerate(lines) if _SUMMARY.fullmatch(line.strip())]
    if len(starts) != 1:
        raise MeasurementFailed(
            f"ffmpeg printed {len(starts)} loudness summaries, expected 1", retryable=False
        )
    block: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("["):
            break
        block.append(line)
    loudness = _one_value(block, _INTEGRATED, "integrated loudness (I: … LUFS)")
    peak = _one_value(block, _PEAK, "true peak (Peak: … dBFS)")
    if loudness > MAX_LOUDNESS_LUFS or -math.inf < loudness < GATED_FLOOR_LUFS:
        raise MeasurementFailed(f"implausible integrated loudness {loudness} LUFS", retryable=False)
    if peak > MAX_TRUE_PEAK_DBTP:
        raise MeasurementFailed(f"implausible true peak {peak} dBFS", retryable=False)
    return loudness, peak


def _one_value(block: list[str], pattern: re.Pattern[str], what: str) -> float:
    found = [m.group(1) for m in (pattern.fullmatch(line) for line in block) if m]
    if len(found) != 1:
        raise MeasurementFailed(
            f"the loudness summary holds {len(found)} {what} lines, expected 1", retryable=False
        )
    value = float(found[0])
    if math.isnan(value) or value == math.inf:
        raise MeasurementFailed(f"{what} is {found[0]}, not a number", retryable=False)
    return value


def parse_silences(lines: list[str], decoded_ms: int) -> list[Silence]:
    """silencedetect's silences in order, clamped to ``[0, decoded_ms]``; a start without
    an end runs to the end. MeasurementFailed when they do not alternate or go back."""
    silences: list[Silence] = []
    open_start: int | None = None
    last_ms = 0
    for line in lines:
        started = _SILENCE_START.fullmatch(line.strip())
        ended = None if started else _SILENCE_END.fullmatch(line.strip())
        if not (started or ended):
            continue
        at_ms = _clamped_ms((started or ended).group(1), decoded_ms)  # type: ignore[union-attr]
        if at_ms < last_ms:
            raise MeasurementFailed(
                f"silencedetect went back in time ({at_ms} ms after {last_ms} ms)",
                retryable=False,
            )
        last_ms = at_ms
        if started:
            if open_start is not None:
                raise MeasurementFailed("two silence starts without an end", retryable=False)
            open_start = at_ms
        else:
            if open_start is None:
                raise MeasurementFailed("a silence end without a start", retryable=False)
            silences.append((open_start, at_ms))
            open_start = None
    if open_start is not None:
        silences.append((open_start, None))
    return silences


def _clamped_ms(text: str, decoded_ms: int) -> int:
    seconds = float(text)
    if not math.isfinite(seconds) or seconds < -1.0 or seconds * 1000 > decoded_ms + 1000:
        raise MeasurementFailed(
            f"silencedetect reported {text} s in a file of {decoded_ms} ms", retryable=False
        )
    return min(max(0, round(seconds * 1000)), decoded_ms)


def cue_points(silences: list[Silence], decoded_ms: int) -> tuple[int, int]:
    """(cue_in_ms, cue_out_ms): the leading silence's end, the trailing silence's start
    (module docstring); 0 and ``decoded_ms`` when there is none or it would leave nothing."""
    if not silences or is_silence_throughout(silences, decoded_ms):
        return 0, decoded_ms
    cue_in_ms, cue_out_ms = 0, decoded_ms
    first_start, first_end = silences[0]
    if first_start <= EDGE_MS and first_end is not None:
        cue_in_ms = first_end
    last_start, last_end = silences[-1]
    if last_end is None or last_end >= decoded_ms - EDGE_MS:
        cue_out_ms = last_start
    if cue_in_ms >= cue_out_ms:
        return 0, decoded_ms
    return cue_in_ms, cue_out_ms


def is_silence_throughout(silences: list[Silence], decoded_ms: int) -> bool:
    """One silence from (near) the start to (near) the end."""
    return any(
        start <= EDGE_MS and (end is None or end >= decoded_ms - EDGE_MS) for start, end in silences
    )


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` attempts that all failed; None: give up."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + timedelta(seconds=RETRY_DELAYS_S[attempts - 1])


def timeout_s(duration_ms: int | None) -> float:
    """How long one measurement may run: a minute, plus a quarter of the file's length
    (ffmpeg measures at 20-400x real time; this allows 4x on a loaded server)."""
    if duration_ms is None:
        return 3600.0
    return 60.0 + max(0, duration_ms) / 4000
