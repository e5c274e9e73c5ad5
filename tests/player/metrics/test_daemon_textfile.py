"""The textfile as the daemon writes it: a plays counter that only goes up, up 0
after shutdown, and an unwritable directory logged once per state change."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lomuz_rules.model import Tier
from player.adapters.null_output import NullOutput
from player.adapters.textfile_metrics import (
    TEXTFILE_NAME,
    TextfileWriter,
    textfile_dir_problem,
)
from player.core.model import Outcome, Play
from player.daemon import Daemon
from player.settings import MetricsSettings, Settings
from player.store.repository import PlayerStore

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def values(path: Path) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            if not s.labels:
                out[s.name] = s.value
    return out


def play(n: int) -> Play:
    at = T0 + timedelta(minutes=3 * n)
    return Play(
        id=str(uuid.uuid4()),
        asset_id="a",
        sha256="0" * 64,
        started_at=at,
        ended_at=at + timedelta(minutes=3),
        source=Tier.PLAYLIST,
        outcome=Outcome.COMPLETED,
    )


def test_plays_recorded_count_only_goes_up_while_the_outbox_is_pruned(tmp_path: Path) -> None:
    """The field bug: the counter was the outbox size (642 -> 5 after an upload)."""
    with PlayerStore.open(tmp_path / "player.db", outbox_max_rows=3) as store:
        assert store.outbox.plays_recorded_count() == 0
        seen = []
        for n in range(10):
            p = play(n)
            store.outbox.record_play(p)
            store.outbox.record_play(p)  # a duplicate id is not a new play
            if n % 2:
                store.outbox.mark_plays_uploaded([q.id for q in store.outbox.pending_plays(100)])
            seen.append(store.outbox.plays_recorded_count())
        assert seen == list(range(1, 11))
        assert store.outbox.counts().outbox_total == 3  # pruned to its bound meanwhile
    with PlayerStore.open(tmp_path / "player.db", outbox_max_rows=3) as store:
        assert store.outbox.plays_recorded_count() == 10  # persisted across restarts


def daemon_with_textfile(tmp_path: Path, textfile_dir: Path) -> Daemon:
    settings = Settings(
        data_dir=tmp_path / "data", metrics=MetricsSettings(textfile_dir=textfile_dir)
    )
    return Daemon(settings, {}, output=NullOutput())


def test_daemon_textfile_counts_plays_and_says_up_0_after_shutdown(tmp_path: Path) -> None:
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    target = textfile_dir / TEXTFILE_NAME
    daemon = daemon_with_textfile(tmp_path, textfile_dir)
    daemon.start()
    try:
        assert daemon.started.is_set()
        daemon._metrics_job()
        first = values(target)
        assert first["lomuz_player_up"] == 1
        assert first["lomuz_player_plays_total"] == 0
        for n in range(4):
            daemon.parts.store.outbox.record_play(play(n))
        store = daemon.parts.store
        store.outbox.mark_plays_uploaded([p.id for p in store.outbox.pending_plays(100)])
        daemon._metrics_job()
        now = values(target)
        assert now["lomuz_player_plays_total"] == 4
        assert now["lomuz_player_outbox_pending_plays"] == 0
        assert (
            now["lomuz_player_metrics_written_timestamp_seconds"]
            >= first["lomuz_player_metrics_written_timestamp_seconds"]
        )
    finally:
        daemon.shutdown()
    stopped = values(target)
    assert stopped["lomuz_player_up"] == 0
    assert stopped["lomuz_player_playing"] == 0
    # the play cut short by the stop is recorded too (as skipped)
    assert stopped["lomuz_player_plays_total"] >= 4
    daemon._metrics_job()  # a job still running when the scheduler stopped: no "up 1" again
    assert values(target)["lomuz_player_up"] == 0


def test_a_daemon_that_failed_to_start_leaves_no_stale_up_1(tmp_path: Path) -> None:
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    (textfile_dir / TEXTFILE_NAME).write_text("lomuz_player_up 1\n")  # a crashed run's file
    daemon = daemon_with_textfile(tmp_path, textfile_dir)
    daemon.shutdown()  # as run() does when start() raised before the store opened
    assert not (textfile_dir / TEXTFILE_NAME).exists()


def test_unwritable_directory_is_logged_once_per_state_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    textfile_dir = tmp_path / "node-exporter"  # missing: node_exporter's side is not set up
    daemon = daemon_with_textfile(tmp_path, textfile_dir)
    daemon.start()
    try:
        caplog.set_level(logging.INFO, logger="player")
        for _ in range(5):
            daemon._metrics_job()
        records = [r for r in caplog.records if "metrics" in r.getMessage()]
        assert len(records) == 1, [r.getMessage() for r in records]
        (warning,) = records
        assert warning.levelno == logging.WARNING
        assert warning.exc_info is None  # no traceback
        assert str(textfile_dir) in warning.getMessage()
        assert "does not exist" in warning.getMessage()
        assert "textfile_dir" in warning.getMessage()  # the fix is named

        caplog.clear()
        textfile_dir.mkdir()
        for _ in range(3):
            daemon._metrics_job()
        records = [r for r in caplog.records if "metrics" in r.getMessage()]
        assert [(r.levelno, "again" in r.getMessage()) for r in records] == [(logging.INFO, True)]
        assert values(textfile_dir / TEXTFILE_NAME)["lomuz_player_up"] == 1
    finally:
        daemon.shutdown()


def test_writer_state_flips_back_and_forth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.player.metrics.test_textfile_metrics import snapshot

    caplog.set_level(logging.INFO, logger="player")
    writer = TextfileWriter(tmp_path / "gone")
    assert not writer.write(snapshot())
    assert not writer.write(snapshot())
    assert writer.failing
    (tmp_path / "gone").mkdir()
    assert writer.write(snapshot())
    assert not writer.failing
    (tmp_path / "gone" / TEXTFILE_NAME).unlink()
    (tmp_path / "gone").rmdir()
    assert not writer.write(snapshot())
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO", "WARNING"]


def test_textfile_dir_problem(tmp_path: Path) -> None:
    assert textfile_dir_problem(tmp_path) is None
    missing = textfile_dir_problem(tmp_path / "absent")
    assert missing is not None
    assert str(tmp_path / "absent") in missing
    assert "does not exist" in missing
    assert "/var/lib/prometheus/node-exporter/lomuz-player" in missing
    (tmp_path / "file").write_text("")
    not_dir = textfile_dir_problem(tmp_path / "file")
    assert not_dir is not None
    assert "not a directory" in not_dir
