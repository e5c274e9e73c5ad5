"""Issue 14: the measured loudness travels from the manifest through the store to the decision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from lomuz_rules.model import Tier
from player.core.model import Manifest
from player.store import PlayerStore
from player.store.engine import migrations_config
from tests.player.core.builders import T0, asset, manifest, playlist, schedule


def measured_manifest() -> Manifest:
    return manifest(
        [
            asset("loud", loudness_lufs=-9.5, true_peak_dbtp=0.4),
            asset("raw"),  # not measured yet
            asset("sos", emergency=True, loudness_lufs=-21.0, true_peak_dbtp=-3.0),
        ],
        [playlist("p", "loud", "raw", crossfade_ms=2500)],
        [schedule("s", "p")],
    )


def verify_all(store: PlayerStore) -> None:
    for a in store.catalogue.all_assets():
        store.files.mark_file_verified(a.sha256, a.size_bytes, T0)


def test_measurements_are_stored_and_reach_the_decision(store: PlayerStore) -> None:
    store.catalogue.apply_manifest(measured_manifest())
    verify_all(store)
    by_id = {a.id: a for a in store.catalogue.all_assets()}
    assert (by_id["loud"].loudness_lufs, by_id["loud"].true_peak_dbtp) == (-9.5, 0.4)
    assert (by_id["raw"].loudness_lufs, by_id["raw"].true_peak_dbtp) == (None, None)
    assert [p.crossfade_ms for p in store.catalogue.all_playlists()] == [2500]

    first = store.decisions.decide(T0)
    assert (first.asset_id, first.loudness_lufs, first.true_peak_dbtp) == ("loud", -9.5, 0.4)


def test_the_read_only_path_of_next_carries_them_too(db_path: Path) -> None:
    with PlayerStore.open(db_path) as store:
        store.catalogue.apply_manifest(measured_manifest())
        verify_all(store)
    reader = PlayerStore.open_read_only(db_path)
    assert reader is not None
    try:
        decision = reader.decisions.decide(T0)
    finally:
        reader.close()
    assert (decision.tier, decision.asset_id) == (Tier.PLAYLIST, "loud")
    assert (decision.loudness_lufs, decision.true_peak_dbtp) == (-9.5, 0.4)


def test_an_emergency_decision_carries_its_asset_s_loudness(store: PlayerStore) -> None:
    store.catalogue.apply_manifest(manifest([asset("sos", emergency=True, loudness_lufs=-21.0)]))
    verify_all(store)
    decision = store.decisions.decide(T0)
    assert (decision.tier, decision.loudness_lufs) == (Tier.EMERGENCY, -21.0)


def test_upgrading_a_0003_database_keeps_its_rows_unmeasured(db_path: Path) -> None:
    """A box updated in the field: nothing stored is lost, everything is unmeasured."""
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        command.upgrade(migrations_config(conn), "0003")
        conn.execute(
            text(
                "INSERT INTO assets (id, sha256, size_bytes, media_type, content_type, title,"
                " emergency, url) VALUES ('old', :sha, 10, 'audio', 'audio/wav', 't', 0, '/u')"
            ),
            {"sha": "0" * 64},
        )
        conn.execute(text("INSERT INTO playlists (id, name, version) VALUES ('p', 'n', 1)"))
    engine.dispose()
    with PlayerStore.open(db_path) as store:  # migrates to head
        (old,) = store.catalogue.all_assets()
        (pl,) = store.catalogue.all_playlists()
    assert (old.id, old.loudness_lufs, old.true_peak_dbtp, old.cue_in_ms) == (
        "old",
        None,
        None,
        None,
    )
    assert pl.crossfade_ms == 0
