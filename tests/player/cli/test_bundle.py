"""import_bundle: verifies everything before changing anything (with a fake store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from player.adapters.media_cache import MediaCache
from player.bundle import import_bundle
from player.core.model import Manifest
from player.errors import BundleError
from tests.player.cli.bundles import BundleAsset, manifest_for, standard_assets, write_bundle

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FakeStore:
    """Records what an import did to the store."""

    def __init__(self) -> None:
        self.applied: list[Manifest] = []
        self.verified: dict[str, tuple[int, datetime]] = {}
        self.catalogue = self  # the one fake plays both parts an import uses
        self.files = self

    def apply_manifest(self, manifest: Manifest) -> None:
        self.applied.append(manifest)

    def mark_file_verified(self, sha256: str, size_bytes: int, at: datetime) -> None:
        self.verified[sha256] = (size_bytes, at)


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_valid_bundle_copies_verifies_and_applies(bundle_dir: Path, tmp_path: Path) -> None:
    store, cache = FakeStore(), MediaCache(tmp_path / "cache")
    result = import_bundle(bundle_dir, store, cache, at=AT)
    assets = standard_assets()
    assert result.files_copied == 3
    assert result.files_present == 0
    assert result.bytes_copied == sum(len(a.data) for a in assets)
    assert result.cursor == "bundle-1"
    assert len(store.applied) == 1
    assert [a.id for a in store.applied[0].assets] == ["ast-a", "ast-b", "ast-sos"]
    for a in assets:
        assert cache.path_for(a.sha256).read_bytes() == a.data
        assert store.verified[a.sha256] == (len(a.data), AT)
    # nothing left behind in the cache's temp area
    assert all("sha256" in p.parts for p in cache_files(tmp_path / "cache"))


def test_reimport_reuses_files_already_in_the_cache(bundle_dir: Path, tmp_path: Path) -> None:
    store, cache = FakeStore(), MediaCache(tmp_path / "cache")
    import_bundle(bundle_dir, store, cache, at=AT)
    for f in (bundle_dir / "media").iterdir():
        f.unlink()
    result = import_bundle(bundle_dir, store, cache, at=AT)
    assert (result.files_copied, result.files_present) == (0, 3)
    assert len(store.applied) == 2


def corrupt_first_file(bundle_dir: Path) -> Path:
    victim = sorted((bundle_dir / "media").iterdir())[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    return victim


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (corrupt_first_file, "content has sha256"),
        (lambda d: sorted((d / "media").iterdir())[1].write_bytes(b"short"), "bytes, the manifest"),
        (lambda d: sorted((d / "media").iterdir())[2].unlink(), "is missing"),
        (lambda d: (d / "manifest.json").unlink(), "manifest.json: is missing"),
        (lambda d: (d / "manifest.json").write_text("[]"), "JSON object"),
    ],
)
def test_bad_bundle_changes_nothing(
    bundle_dir: Path, tmp_path: Path, damage: object, fragment: str
) -> None:
    damage(bundle_dir)  # type: ignore[operator]
    store, cache = FakeStore(), MediaCache(tmp_path / "cache")
    with pytest.raises(BundleError, match=fragment):
        import_bundle(bundle_dir, store, cache, at=AT)
    assert store.applied == []
    assert store.verified == {}
    assert cache_files(tmp_path / "cache") == []


def test_a_delta_is_not_a_bundle(tmp_path: Path) -> None:
    assets = standard_assets()
    manifest = manifest_for(assets, ["ast-a"])
    manifest["full"] = False
    bundle = write_bundle(tmp_path / "b", assets, manifest)
    store = FakeStore()
    with pytest.raises(BundleError, match="full manifest") as info:
        import_bundle(bundle, store, MediaCache(tmp_path / "cache"), at=AT)
    assert info.value.path is not None
    assert info.value.path.endswith("manifest.json: full")
    assert store.applied == []


def test_manifest_error_names_the_file_and_field(tmp_path: Path) -> None:
    assets = standard_assets()
    manifest = manifest_for(assets, ["ast-a"])
    manifest["assets"][1]["size"] = "big"
    bundle = write_bundle(tmp_path / "b", assets, manifest)
    with pytest.raises(BundleError) as info:
        import_bundle(bundle, FakeStore(), MediaCache(tmp_path / "cache"), at=AT)
    assert "manifest.json" in str(info.value)
    assert "assets[1].size" in str(info.value)


def test_same_file_for_two_assets_is_stored_once(tmp_path: Path) -> None:
    a = standard_assets()[0]
    twin = BundleAsset("ast-twin", a.data)
    bundle = write_bundle(tmp_path / "b", [a, twin], manifest_for([a, twin], ["ast-a", "ast-twin"]))
    cache = MediaCache(tmp_path / "cache")
    result = import_bundle(bundle, FakeStore(), cache, at=AT)
    assert result.files_copied == 1
    assert len(cache_files(tmp_path / "cache")) == 1


def test_conflicting_sizes_for_one_hash_are_rejected(tmp_path: Path) -> None:
    a = standard_assets()[0]
    twin = BundleAsset("ast-twin", a.data)
    manifest = manifest_for([a, twin], ["ast-a"])
    manifest["assets"][1]["size"] = 1
    bundle = write_bundle(tmp_path / "b", [a, twin], manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"assets\[1\]\.size"):
        import_bundle(bundle, FakeStore(), MediaCache(tmp_path / "cache"), at=AT)
