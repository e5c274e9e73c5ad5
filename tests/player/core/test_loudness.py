"""The gain rule and the output's volume scale (issue 14): properties that must always hold."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.core.loudness import OFFSET_TIERS, LoudnessSettings, item_gain
from player.core.output_volume import (
    MAX_PERCENT,
    amplitude_of_db,
    amplitude_of_percent,
    output_percent,
    percent_of_amplitude,
)

loudness = st.floats(-70.0, 0.0)
peaks = st.floats(-60.0, 6.0) | st.none()
tiers = st.sampled_from(OFFSET_TIERS)
settings = st.builds(
    LoudnessSettings,
    target_lufs=st.floats(-40.0, -5.0),
    max_true_peak_dbtp=st.floats(-10.0, 0.0),
    max_boost_db=st.floats(0.0, 18.0),
    override_offset_db=st.floats(-12.0, 12.0),
    emergency_offset_db=st.floats(-12.0, 12.0),
    jingle_offset_db=st.floats(-12.0, 12.0),
)
EPS = 1e-9


@given(loudness | st.none(), st.floats(-60.0, 6.0), tiers, settings)
def test_the_gained_true_peak_never_exceeds_the_ceiling(
    lufs: float | None, peak: float, tier: str, s: LoudnessSettings
) -> None:
    assert peak + item_gain(lufs, peak, tier, s).gain_db <= s.max_true_peak_dbtp + EPS


@given(loudness, peaks, tiers, settings)
def test_a_boost_never_exceeds_the_cap(
    lufs: float, peak: float | None, tier: str, s: LoudnessSettings
) -> None:
    assert item_gain(lufs, peak, tier, s).gain_db <= s.max_boost_db + EPS


@given(loudness, loudness, peaks, tiers, settings)
def test_a_louder_file_never_gets_a_higher_gain(
    a: float, b: float, peak: float | None, tier: str, s: LoudnessSettings
) -> None:
    quiet, loud = sorted((a, b))
    assert item_gain(loud, peak, tier, s).gain_db <= item_gain(quiet, peak, tier, s).gain_db + EPS


@given(loudness, peaks, tiers, settings)
def test_when_no_limit_bites_the_item_lands_on_its_target(
    lufs: float, peak: float | None, tier: str, s: LoudnessSettings
) -> None:
    gain = item_gain(lufs, peak, tier, s)
    if gain.reason == "target":
        assert lufs + gain.gain_db == pytest.approx(s.target_lufs + s.offset_db(tier), abs=1e-9)
    else:
        assert gain.reason in {"peak-limited", "boost-limited"}
        assert lufs + gain.gain_db < s.target_lufs + s.offset_db(tier) + EPS


def test_the_defaults_level_to_minus_18_with_a_minus_1_ceiling() -> None:
    s = LoudnessSettings()
    assert item_gain(-8.0, -3.0, "playlist", s).gain_db == pytest.approx(-10.0)
    assert item_gain(-28.0, -12.0, "playlist", s).gain_db == pytest.approx(10.0)
    # A quiet track with a sharp peak is raised only until the peak reaches -1 dBTP.
    peaky = item_gain(-24.0, -2.0, "playlist", s)
    assert (peaky.gain_db, peaky.reason) == (pytest.approx(1.0), "peak-limited")
    assert item_gain(-40.0, -30.0, "playlist", s).reason == "boost-limited"


def test_each_announcement_tier_has_its_own_offset() -> None:
    s = LoudnessSettings(override_offset_db=1.0, emergency_offset_db=4.0, jingle_offset_db=-3.0)
    gains = {tier: item_gain(-18.0, -20.0, tier, s).gain_db for tier in OFFSET_TIERS}
    assert gains == {"override": 1.0, "playlist": 0.0, "emergency": 4.0, "jingle": -3.0}


def test_an_unmeasured_item_plays_as_the_file_is_unless_its_known_peak_is_over() -> None:
    s = LoudnessSettings(jingle_offset_db=6.0)
    assert item_gain(None, None, "jingle", s).gain_db == 0.0
    assert item_gain(None, None, "jingle", s).reason == "unmeasured"
    assert item_gain(None, 0.5, "playlist", s).gain_db == pytest.approx(-1.5)


@given(st.integers(0, MAX_PERCENT))
def test_every_percent_round_trips_through_its_amplitude(percent: int) -> None:
    assert percent_of_amplitude(amplitude_of_percent(percent)) == percent


@given(st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_the_percent_is_monotonic_in_amplitude_and_capped(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert percent_of_amplitude(low) <= percent_of_amplitude(high) <= MAX_PERCENT


def test_libvlc_s_scale_is_cubic_as_measured() -> None:
    """The figures measured on the null sink (docs/BENCHMARKS.md, "Loudness")."""
    assert amplitude_of_percent(50) == pytest.approx(0.125)
    assert amplitude_of_percent(126) == pytest.approx(2.0, rel=1e-3)
    assert amplitude_of_percent(200) == pytest.approx(8.0)
    assert percent_of_amplitude(amplitude_of_db(-10.0)) == 68  # 100 * 10 ** (-10 / 60)


@given(st.integers(1, 100), st.floats(-30.0, 18.0))
def test_the_master_volume_keeps_its_meaning_and_the_gain_adds_in_db(
    master: int, gain_db: float
) -> None:
    """At 0 dB the output gets the master percent itself; a gain shifts the level by its dB
    (within a whole percent's rounding), unless the cap bites."""
    assert output_percent(master, 1.0, 0.0) == master
    percent = output_percent(master, 1.0, gain_db)
    wanted = master * 10 ** (gain_db / 60)
    if wanted <= MAX_PERCENT:
        assert abs(percent - wanted) <= 0.5 + EPS
    else:
        assert percent == MAX_PERCENT
    assert output_percent(master, 0.0, gain_db) == 0
    assert math.isclose(amplitude_of_db(20.0), 10.0)
