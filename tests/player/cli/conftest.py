from __future__ import annotations

from pathlib import Path

import pytest

from tests.player.cli.bundles import manifest_for, standard_assets, write_bundle


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A valid bundle: ast-a, ast-b on an all-day playlist, plus an emergency asset."""
    assets = standard_assets()
    return write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a", "ast-b"]))
