"""libvlc's plugins cache (plugins.dat): a missing one costs every start a plugin scan.

The doctor warns, never fails (playback works without it), and names the
command that writes it. The plugins directory comes through
``DoctorProbes.vlc_plugins_dir``: a temp tree here.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

from player import doctor
from player.adapters.vlc_probe import vlc_plugins_dir
from player.doctor import DoctorProbes, doctor_command
from player.settings import PlaybackSettings, Settings

from .conftest import write


def test_a_present_cache_passes(
    settings: Settings, probes: DoctorProbes, vlc_plugins: Path
) -> None:
    check = doctor.check_vlc_plugins_cache(settings, probes)
    assert check.status == "pass"
    assert str(vlc_plugins / "plugins.dat") in check.summary


def test_a_missing_cache_warns_with_the_command_that_writes_it(
    settings: Settings, probes: DoctorProbes, vlc_plugins: Path
) -> None:
    (vlc_plugins / "plugins.dat").unlink()

    check = doctor.check_vlc_plugins_cache(settings, probes)

    assert check.status == "warn"
    assert "plugins.dat" in check.summary and "each start" in check.summary
    assert check.fix == f"sudo {vlc_plugins.parent / 'vlc-cache-gen'} {vlc_plugins}"


def test_a_missing_cache_does_not_fail_the_doctor(
    settings: Settings, probes: DoctorProbes, vlc_plugins: Path
) -> None:
    (vlc_plugins / "plugins.dat").unlink()
    out = io.StringIO()

    doctor_command(settings, {}, True, out, probes)

    by_name = {c["name"]: c for c in json.loads(out.getvalue())["checks"]}
    assert by_name["vlc plugins"]["status"] == "warn"
    assert "vlc-cache-gen" in by_name["vlc plugins"]["fix"]


def test_without_vlc_cache_gen_the_fix_names_its_package(
    settings: Settings, probes: DoctorProbes, vlc_plugins: Path
) -> None:
    (vlc_plugins / "plugins.dat").unlink()
    (vlc_plugins.parent / "vlc-cache-gen").unlink()

    check = doctor.check_vlc_plugins_cache(settings, probes)

    assert check.status == "warn"
    assert check.fix is not None
    assert "libvlc-bin" in check.fix and f"vlc-cache-gen {vlc_plugins}" in check.fix


def test_the_null_backend_does_not_need_the_cache(
    settings: Settings, probes: DoctorProbes, vlc_plugins: Path
) -> None:
    (vlc_plugins / "plugins.dat").unlink()
    null = replace(settings, playback=PlaybackSettings(backend="null"))

    assert doctor.check_vlc_plugins_cache(null, probes).status == "pass"
    assert doctor.check_vlc_plugins_cache(settings, probes).status == "warn"


def test_no_plugins_directory_warns(settings: Settings, probes: DoctorProbes) -> None:
    check = doctor.check_vlc_plugins_cache(settings, replace(probes, vlc_plugins_dir=lambda: None))
    assert check.status == "warn"
    assert check.fix is not None


def test_the_plugins_directory_is_libvlcs_override_else_the_distributions(
    tmp_path: Path,
) -> None:
    root = tmp_path / "host"
    write(root, "/usr/lib/aarch64-linux-gnu/vlc/plugins/plugins.dat", "cache")

    assert vlc_plugins_dir({}, root) == root / "usr/lib/aarch64-linux-gnu/vlc/plugins"
    assert vlc_plugins_dir({"VLC_PLUGIN_PATH": "/opt/vlc/plugins"}, root) == Path(
        "/opt/vlc/plugins"
    )
    assert vlc_plugins_dir({"PYTHON_VLC_MODULE_PATH": "/srv/vlc"}, root) == Path("/srv/vlc")
    assert vlc_plugins_dir({}, tmp_path / "empty") is None
