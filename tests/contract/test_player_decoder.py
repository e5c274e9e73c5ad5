"""The player's decoder accepts every valid golden manifest and rejects every invalid one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lomuz_rules.model import MediaType, TargetKind
from player.errors import ManifestError
from player.wire import decode_manifest

HERE = Path(__file__).parent / "manifests"
VALID = sorted((HERE / "valid").glob("*.json"))
EXPECTED_INVALID: dict[str, dict[str, str | None]] = json.loads(
    (HERE / "invalid" / "expected.json").read_text()
)


def test_every_invalid_fixture_has_an_expectation() -> None:
    on_disk = {p.name for p in (HERE / "invalid").glob("*.json")} - {"expected.json"}
    assert on_disk == set(EXPECTED_INVALID)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture_is_accepted(path: Path) -> None:
    manifest = decode_manifest(path.read_bytes())
    assert manifest.schema == 1
    assert manifest.server_time.tzinfo is UTC


def test_full_fixture_decodes_to_the_expected_values() -> None:
    m = decode_manifest((HERE / "valid" / "full.json").read_bytes())
    assert m.full
    assert m.cursor == "r42"
    assert m.sync_interval_s == 600
    assert m.device.timezone == "Europe/Paris"
    assert m.device.groups == ("france", "large-stores")
    assert [a.id for a in m.assets] == ["ast-song", "ast-poster", "ast-evac"]
    poster = m.assets[1]
    assert poster.media_type is MediaType.IMAGE
    assert poster.size_bytes == 1234
    # "2027-01-01T00:00:00+01:00" normalised to UTC
    assert poster.valid_until == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert m.assets[2].emergency
    assert not m.assets[0].emergency
    assert [i.asset_id for i in m.playlists[0].items] == ["ast-song", "ast-poster"]
    assert m.playlists[0].items[1].duration_ms == 8000
    night = m.schedules[1]
    assert night.target is TargetKind.DEVICE
    assert (night.start_minute, night.end_minute) == (20 * 60, 8 * 60)
    assert night.days == frozenset(range(1, 8))
    assert m.schedules[2].end_minute == 1440
    assert m.schedules[2].priority == -1
    (sale,) = m.overrides
    assert (sale.id, sale.playlist_id, sale.target) == ("ovr-sale", "pl-day", TargetKind.GROUP)
    assert sale.created_at == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)  # "+01:00" to UTC
    assert sale.until == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    song, _, evac = m.assets
    assert (song.loudness_lufs, song.true_peak_dbtp) == (-14.2, -0.3)
    assert (song.cue_in_ms, song.cue_out_ms) == (120, 1450)
    assert evac.loudness_lufs == -23.0 and isinstance(evac.loudness_lufs, float)  # JSON -23
    assert (poster.loudness_lufs, poster.true_peak_dbtp, poster.cue_in_ms) == (None, None, None)
    assert m.playlists[0].crossfade_ms == 2000


def test_future_fields_decode_exactly_like_the_plain_manifest() -> None:
    plain = decode_manifest((HERE / "valid" / "full.json").read_bytes())
    future = decode_manifest((HERE / "valid" / "future_fields.json").read_bytes())
    assert future == plain


def test_delta_fixture_carries_upserts_and_deletions() -> None:
    m = decode_manifest((HERE / "valid" / "delta_with_deletions.json").read_bytes())
    assert not m.full
    assert m.deleted.assets == ("ast-poster",)
    assert m.deleted.playlists == ("pl-night",)
    assert m.deleted.schedules == ("sch-night",)
    assert m.deleted.overrides == ("ovr-old",)
    assert m.server_time == datetime(2026, 12, 2, 9, 15, 30, 250_000, tzinfo=UTC)
    assert m.schedules == ()


@pytest.mark.parametrize("name", sorted(EXPECTED_INVALID))
def test_invalid_fixture_is_rejected_naming_the_field(name: str) -> None:
    expected = EXPECTED_INVALID[name]
    with pytest.raises(ManifestError) as info:
        decode_manifest((HERE / "invalid" / name).read_bytes())
    assert info.value.path == expected["path"]
    assert str(expected["message_contains"]) in str(info.value)


def test_a_manifest_from_an_api_that_does_not_measure_decodes_as_unmeasured() -> None:
    """An older API sends none of issue 14's fields: null loudness, no crossfade."""
    data = json.loads((HERE / "valid" / "full.json").read_text())
    for asset in data["assets"]:
        for key in ("loudness_lufs", "true_peak_dbtp", "cue_in_ms", "cue_out_ms"):
            asset.pop(key, None)
    for playlist in data["playlists"]:
        playlist.pop("crossfade_ms", None)
    m = decode_manifest(json.dumps(data).encode())
    assert {(a.loudness_lufs, a.true_peak_dbtp, a.cue_in_ms, a.cue_out_ms) for a in m.assets} == {
        (None, None, None, None)
    }
    assert {p.crossfade_ms for p in m.playlists} == {0}


@pytest.mark.parametrize(
    ("key", "value", "wording"),
    [
        ("loudness_lufs", True, "must be a loudness in LUFS"),
        ("loudness_lufs", -1e9, "must be a loudness in LUFS"),
        ("true_peak_dbtp", "0", "must be a true peak in dBTP"),
        ("cue_in_ms", 1.5, "must be"),
        ("cue_out_ms", -1, "must be"),
    ],
)
def test_a_measurement_of_the_wrong_type_rejects_the_manifest_naming_it(
    key: str, value: object, wording: str
) -> None:
    data = json.loads((HERE / "valid" / "full.json").read_text())
    data["assets"][2][key] = value
    with pytest.raises(ManifestError) as caught:
        decode_manifest(json.dumps(data).encode())
    assert caught.value.path == f"assets[2].{key}"
    assert wording in str(caught.value)
