"""The rules that read ffmpeg's loudness report (control_api.core.loudness)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core import loudness as ld
from control_api.errors import MeasurementFailed

HEADER = """Input #0, wav, from 'file:/srv/media/sha256/ab/ab12':
  Metadata:
    title           : I: -5.0 LUFS
  Duration: 00:00:05.50, bitrate: 1536 kb/s
  Stream #0:0: Audio: pcm_s16le, 48000 Hz, stereo, s16, 1536 kb/s
"""


def summary(i: str = "-23.0", peak: str = "-1.0") -> str:
    return f"""[Parsed_ebur128_0 @ 0x55975ff35c80] Summary:

  Integrated loudness:
    I:         {i} LUFS
    Threshold: -33.0 LUFS

  Loudness range:
    LRA:         2.3 LU
    Threshold: -62.2 LUFS
    LRA low:   -43.5 LUFS
    LRA high:  -41.2 LUFS

  True peak:
    Peak:      {peak} dBFS
"""


def start(s: float) -> str:
    return f"[silencedetect @ 0x5597] silence_start: {s:g}\n"


def end(s: float, d: float = 1.0) -> str:
    return f"[silencedetect @ 0x5597] silence_end: {s:g} | silence_duration: {d:g}\n"


def progress(ms: int) -> str:
    return (
        f"out_time_us={ms * 500}\nprogress=continue\nout_time_us={ms * 1000}\n"
        f"out_time=00:00:05.500000\nprogress=end\n"
    )


def test_a_tone_between_a_leading_and_a_trailing_silence() -> None:
    err = HEADER + start(0) + end(1.00006) + start(3.99996) + summary("-41.5", "-41.1")
    err += end(5.5, 1.50004)
    m = ld.parse_measurement(err, progress(5500))
    assert (m.loudness_lufs, m.true_peak_dbtp) == (-41.5, -41.1)
    assert (m.cue_in_ms, m.cue_out_ms, m.decoded_ms, m.note) == (1000, 4000, 5500, None)


def test_no_silence_keeps_the_whole_file_and_a_tag_is_not_a_measurement() -> None:
    m = ld.parse_measurement(HEADER + summary("-14.2", "-0.3"), progress(2000))
    assert (m.loudness_lufs, m.true_peak_dbtp, m.cue_in_ms, m.cue_out_ms) == (-14.2, -0.3, 0, 2000)


def test_a_trailing_silence_without_an_end_runs_to_the_end() -> None:
    m = ld.parse_measurement(summary() + start(7.25), progress(9000))
    assert (m.cue_in_ms, m.cue_out_ms) == (0, 7250)


def test_a_silence_in_the_middle_is_not_a_cue_point() -> None:
    m = ld.parse_measurement(start(2) + end(3) + summary(), progress(9000))
    assert (m.cue_in_ms, m.cue_out_ms) == (0, 9000)


@pytest.mark.parametrize(("i", "peak"), [("-70.0", "-inf"), ("-70.0", "-60.0"), ("-20.0", "-inf")])
def test_a_silent_file_has_no_loudness_and_says_why(i: str, peak: str) -> None:
    m = ld.parse_measurement(start(0) + summary(i, peak) + end(3, 3), progress(3000))
    assert (m.loudness_lufs, m.true_peak_dbtp, m.cue_in_ms, m.cue_out_ms) == (None, None, 0, 3000)
    assert m.note is not None and "silent" in m.note


def test_quiet_but_measurable_throughout_is_not_trimmed() -> None:
    m = ld.parse_measurement(start(0) + summary("-60.0", "-55.0") + end(3, 3), progress(3000))
    assert (m.loudness_lufs, m.cue_in_ms, m.cue_out_ms) == (-60.0, 0, 3000)
    assert m.note is not None and "not trimmed" in m.note


@pytest.mark.parametrize(
    ("stderr", "prog", "says"),
    [
        ("", progress(1000), "0 loudness summaries"),
        (summary() + summary(), progress(1000), "2 loudness summaries"),
        (summary().replace("    I:", "    X:"), progress(1000), "0 integrated loudness"),
        (summary().replace("Peak:", "Pk:"), progress(1000), "0 true peak"),
        (summary(i="nan"), progress(1000), "not a number"),
        (summary(i="inf"), progress(1000), "not a number"),
        (summary(i="45.0"), progress(1000), "implausible integrated loudness"),
        (summary(i="-80.0"), progress(1000), "implausible integrated loudness"),
        (summary(peak="99.0"), progress(1000), "implausible true peak"),
        (summary(), "out_time_us=1000\n", "did not report"),
        (summary(), "progress=end\n", "did not report"),
        (summary() + end(1), progress(1000), "end without a start"),
        (summary() + start(1) + start(2), progress(9000), "two silence starts"),
        (summary() + start(3) + end(2), progress(9000), "back in time"),
        (summary() + start(99), progress(9000), "reported 99 s"),
    ],
)
def test_garbled_output_is_an_error_never_a_number(stderr: str, prog: str, says: str) -> None:
    with pytest.raises(MeasurementFailed, match=says) as caught:
        ld.parse_measurement(stderr, prog)
    assert caught.value.retryable is False


def test_retries_back_off_then_give_up() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    delays = [ld.retry_at(n, now) for n in range(1, ld.MAX_ATTEMPTS + 1)]
    assert delays[:-1] == [now + timedelta(seconds=s) for s in ld.RETRY_DELAYS_S]
    assert delays[-1] is None
    assert ld.timeout_s(3_600_000) > ld.timeout_s(1000) >= 60


# ---------------------------------------------------------------- properties

silences = st.lists(st.tuples(st.integers(0, 10_000), st.integers(500, 10_000)), max_size=6).map(
    lambda gaps: gaps
)


@st.composite
def reports(draw: st.DrawFn) -> tuple[str, int, list[tuple[int, int | None]]]:
    """An ffmpeg-like report of a file with silences at known places (ms)."""
    decoded_ms = draw(st.integers(1000, 3_600_000))
    spans: list[tuple[int, int | None]] = []
    at = draw(st.sampled_from([0, draw(st.integers(0, decoded_ms))]))
    for gap, length in draw(silences):
        s = at + gap if spans else at
        e = s + length
        if e > decoded_ms:
            spans.append((s, None))  # runs past the end: no silence_end printed
            break
        spans.append((s, e))
        at = e
    spans = [(s, e) for s, e in spans if s <= decoded_ms]
    lines = [HEADER]
    for s, e in spans:
        lines.append(start(s / 1000))
        if e is not None:
            lines.append(end(e / 1000))
    lines.insert(draw(st.integers(1, len(lines))), summary("-18.3", "-2.0"))
    return "".join(lines), decoded_ms, spans


@given(reports())
def test_cue_points_lie_inside_the_file_and_follow_the_silences(
    report: tuple[str, int, list[tuple[int, int | None]]],
) -> None:
    stderr, decoded_ms, spans = report
    m = ld.parse_measurement(stderr, progress(decoded_ms))
    assert 0 <= m.cue_in_ms < m.cue_out_ms <= decoded_ms
    assert m.loudness_lufs == -18.3
    whole = any(s <= ld.EDGE_MS and (e is None or e >= decoded_ms - ld.EDGE_MS) for s, e in spans)
    if not spans or whole:
        assert (m.cue_in_ms, m.cue_out_ms) == (0, decoded_ms)
        return
    if m.cue_in_ms:
        assert spans[0][0] <= ld.EDGE_MS and m.cue_in_ms == spans[0][1]
    if m.cue_out_ms != decoded_ms:
        assert m.cue_out_ms == spans[-1][0]


@given(st.text(max_size=400), st.text(max_size=100))
def test_any_text_gives_a_measurement_or_a_clear_error(stderr: str, prog: str) -> None:
    failure: MeasurementFailed | None = None
    try:
        m = ld.parse_measurement(stderr, prog)
    except MeasurementFailed as exc:
        failure = exc
    if failure is not None:
        assert failure.reason and not failure.retryable
    else:
        assert 0 <= m.cue_in_ms <= m.cue_out_ms <= m.decoded_ms


@given(
    st.lists(st.sampled_from([start(0), end(1), start(2), summary(), "garbage\n", end(3)])),
    st.integers(0, 10_000),
)
def test_shuffled_report_lines_never_give_a_wrong_number(parts: list[str], decoded_ms: int) -> None:
    try:
        m = ld.parse_measurement("".join(parts), progress(decoded_ms))
    except MeasurementFailed:
        return
    assert m.loudness_lufs == -23.0 and m.true_peak_dbtp == -1.0
    assert 0 <= m.cue_in_ms <= m.cue_out_ms <= decoded_ms


def test_the_metric_knows_every_outcome_the_measurer_records() -> None:
    from control_api.metrics import LOUDNESS_OUTCOMES
    from control_api.services.measurements import OUTCOMES

    assert LOUDNESS_OUTCOMES == OUTCOMES
