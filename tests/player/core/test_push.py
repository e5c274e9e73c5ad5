"""The pure rules of when a nudge makes the player sync."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from player.core.push import jitter_s, nudge_sync_due_at


@given(st.floats(min_value=0, max_value=600), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_jitter_stays_within_the_bound(max_jitter_s: float, unit: float) -> None:
    assert 0 <= jitter_s(max_jitter_s, unit) <= max_jitter_s


def test_jitter_spreads_uniformly() -> None:
    assert jitter_s(3, 0.0) == 0
    assert jitter_s(3, 0.5) == 1.5
    assert jitter_s(-1, 0.5) == 0


def test_first_nudge_syncs_after_its_jitter() -> None:
    due = nudge_sync_due_at(
        now_s=100, jitter_s=2, pending_due_s=None, last_started_s=None, min_gap_s=10
    )
    assert due == 102


def test_a_pending_sync_absorbs_later_nudges() -> None:
    due = nudge_sync_due_at(
        now_s=100, jitter_s=0, pending_due_s=101, last_started_s=None, min_gap_s=10
    )
    assert due is None


def test_nudge_syncs_keep_the_minimum_gap() -> None:
    due = nudge_sync_due_at(
        now_s=100, jitter_s=1, pending_due_s=None, last_started_s=95, min_gap_s=10
    )
    assert due == 105
    late = nudge_sync_due_at(
        now_s=200, jitter_s=1, pending_due_s=None, last_started_s=95, min_gap_s=10
    )
    assert late == 201


@given(
    st.lists(st.tuples(st.floats(0, 5), st.floats(0, 1, exclude_max=True)), max_size=200),
    st.floats(min_value=0.5, max_value=30),
)
def test_a_flood_of_nudges_starts_at_most_one_sync_per_gap(
    arrivals: list[tuple[float, float]], min_gap_s: float
) -> None:
    """Simulate: nudges arrive (gaps between them), the pending sync starts when due."""
    now, pending, last, started = 0.0, None, None, []
    for gap, unit in arrivals:
        now += gap
        if pending is not None and pending <= now:
            started.append(pending)
            last, pending = pending, None
        due = nudge_sync_due_at(
            now_s=now,
            jitter_s=jitter_s(3, unit),
            pending_due_s=pending,
            last_started_s=last,
            min_gap_s=min_gap_s,
        )
        if due is not None:
            pending = due
    for a, b in itertools.pairwise(started):
        assert b - a >= min_gap_s - 1e-9
