"""The node_exporter textfile: atomic, parseable, named with units, bad input rejected."""

from __future__ import annotations

import math
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from player.adapters.textfile_metrics import (
    TEXTFILE_NAME,
    PlayerMetrics,
    render,
    write_textfile,
)

STARTED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SYNCED_AT = datetime(2026, 3, 1, 9, 59, 17, 500_000, tzinfo=UTC)
TAKEN_AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def snapshot(**changes: object) -> PlayerMetrics:
    base = PlayerMetrics(
        playing=True,
        tier="playlist",
        last_sync_success_at=SYNCED_AT,
        last_sync_attempt_at=SYNCED_AT,
        sync_failing=False,
        outbox_pending_plays=3,
        outbox_dropped_plays_total=1,
        cache_bytes=123_456_789,
        cache_files=17,
        download_failures_total=2,
        pending_downloads=4,
        plays_total=1000,
        clock_offset_s=-0.25,
        clock_trusted=True,
        quarantined_assets=1,
        storage_full=False,
        started_at=STARTED_AT,
        taken_at=TAKEN_AT,
        version="0.1.0",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_written_file_parses_with_expected_values(tmp_path: Path) -> None:
    path = write_textfile(tmp_path, snapshot())
    assert path == tmp_path / TEXTFILE_NAME
    values = samples(path.read_text())
    assert values[("lomuz_player_up", ())] == 1
    assert values[("lomuz_player_playing", ())] == 1
    assert values[("lomuz_player_playing_info", (("tier", "playlist"),))] == 1
    assert values[("lomuz_player_last_sync_success_timestamp_seconds", ())] == SYNCED_AT.timestamp()
    assert values[("lomuz_player_last_sync_attempt_timestamp_seconds", ())] == SYNCED_AT.timestamp()
    assert values[("lomuz_player_sync_failing", ())] == 0
    assert values[("lomuz_player_metrics_written_timestamp_seconds", ())] == TAKEN_AT.timestamp()
    assert values[("lomuz_player_outbox_pending_plays", ())] == 3
    assert values[("lomuz_player_outbox_dropped_plays_total", ())] == 1
    assert values[("lomuz_player_cache_bytes", ())] == 123_456_789
    assert values[("lomuz_player_cache_files", ())] == 17
    assert values[("lomuz_player_download_failures_total", ())] == 2
    assert values[("lomuz_player_downloads_pending", ())] == 4
    assert values[("lomuz_player_plays_total", ())] == 1000
    assert values[("lomuz_player_clock_offset_seconds", ())] == -0.25
    assert values[("lomuz_player_clock_trusted", ())] == 1
    assert values[("lomuz_player_quarantined_assets", ())] == 1
    assert values[("lomuz_player_storage_full", ())] == 0
    assert values[("lomuz_player_start_time_seconds", ())] == STARTED_AT.timestamp()
    assert values[("lomuz_player_build_info", (("version", "0.1.0"),))] == 1
    assert not any(name.endswith("_created") for name, _ in values)


def test_help_and_type_lines_and_counter_types(tmp_path: Path) -> None:
    text = write_textfile(tmp_path, snapshot()).read_text()
    assert "# TYPE lomuz_player_plays_total counter" in text
    assert "# TYPE lomuz_player_cache_bytes gauge" in text
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    helped = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert declared == helped
    assert len(declared) == len(set(declared))
    types = families(text)
    for name in ("plays", "download_failures", "outbox_dropped_plays"):
        assert types[f"lomuz_player_{name}"] == "counter"


def test_never_synced_leaves_the_timestamps_absent_and_idle_tier_is_none(tmp_path: Path) -> None:
    text = write_textfile(
        tmp_path,
        snapshot(last_sync_success_at=None, last_sync_attempt_at=None, playing=False, tier=None),
    ).read_text()
    values = samples(text)
    for name in ("last_sync_success", "last_sync_attempt"):
        metric = f"lomuz_player_{name}_timestamp_seconds"
        assert not any(n == metric for n, _ in values)
        assert f"# TYPE {metric} gauge" in text
    assert values[("lomuz_player_playing_info", (("tier", "none"),))] == 0


def test_no_ages_only_timestamps_and_no_total_on_gauges() -> None:
    """promtool's rules: _total only on counters; instants rather than ages."""
    text = render(snapshot()).decode()
    for family in text_string_to_metric_families(text):
        assert not family.name.endswith("_age_seconds"), family.name
        if family.type != "counter":
            assert not family.name.endswith("_total"), family.name


@given(st.text(min_size=1, max_size=40))
def test_label_values_are_escaped_and_round_trip(tier: str) -> None:
    text = render(snapshot(tier=tier)).decode()
    assert samples(text)[("lomuz_player_playing_info", (("tier", tier),))] == 1


def test_replaces_atomically_without_leftovers(tmp_path: Path) -> None:
    (tmp_path / "node.prom").write_text("# other collector\n")
    write_textfile(tmp_path, snapshot(plays_total=1))
    before_inode = (tmp_path / TEXTFILE_NAME).stat().st_ino
    write_textfile(tmp_path, snapshot(plays_total=2))
    after = tmp_path / TEXTFILE_NAME
    assert samples(after.read_text())[("lomuz_player_plays_total", ())] == 2
    assert after.stat().st_ino != before_inode  # a new file renamed over, not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lomuz_player.prom", "node.prom"]
    assert stat.S_IMODE(after.stat().st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    write_textfile(tmp_path, snapshot(plays_total=5))
    target = tmp_path / TEXTFILE_NAME
    # A directory where the file should go: the rename fails after the temp is written.
    target.unlink()
    target.mkdir()
    with pytest.raises(IsADirectoryError):
        write_textfile(tmp_path, snapshot(plays_total=6))
    assert [p.name for p in tmp_path.iterdir()] == [TEXTFILE_NAME]
    assert target.is_dir()


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_textfile(tmp_path / "absent", snapshot())
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cache_bytes": -1}, "cache_bytes"),
        ({"plays_total": -5}, "plays_total"),
        ({"last_sync_success_at": datetime(2026, 3, 1)}, "last_sync_success_at"),
        ({"taken_at": datetime(2026, 3, 1)}, "taken_at"),
        ({"clock_offset_s": math.inf}, "clock_offset_s"),
        ({"started_at": datetime(2026, 3, 1)}, "started_at"),
        ({"tier": ""}, "tier"),
    ],
)
def test_bad_snapshot_names_the_field_and_writes_nothing(
    tmp_path: Path, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        write_textfile(tmp_path, snapshot(**changes))
    assert os.listdir(tmp_path) == []
