"""Fixtures for the player robustness suites: the libvlc gate."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def libvlc() -> None:
    """Skip without libvlc, with the reason; fail instead when LOMUZ_REQUIRE_VLC=1."""
    try:
        import vlc

        instance = vlc.Instance(["--aout=dummy", "--vout=dummy", "--quiet"])
        if instance is None:
            raise OSError("libvlc refused a headless instance")
        instance.release()
    except (ImportError, OSError, AttributeError, NameError) as exc:
        if os.environ.get("LOMUZ_REQUIRE_VLC") == "1":
            pytest.fail(f"LOMUZ_REQUIRE_VLC=1 but libvlc is not loadable: {exc}")
        pytest.skip(f"libvlc is not loadable: {exc}")
