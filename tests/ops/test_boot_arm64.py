"""The boot test again, for a Raspberry Pi's architecture: arm64 packages on arm64 Debian 12.

The same box and the same assertions as tests/ops/test_boot.py (its tests
are imported, so they run here against this module's ``box``), with
packages built by ``scripts/build-debs --arch arm64`` and booted in an arm64
bookworm root under real systemd: ``systemd-nspawn --boot`` on this machine
runs the root's arm64 systemd, python3 and libvlc through qemu-user-static
(binfmt_misc, flag F). Both packages are arm64, so the API also runs inside
the box, on the box's private loopback, as in the amd64 test.

Known difference under qemu-user: units with credentials (systemd-sysctl,
systemd-sysusers, systemd-tmpfiles-setup*) fail with "Failed at step
CREDENTIALS ... Invalid argument", so the box boots "degraded" (which
BootedRoot accepts); our units use no credentials. lomuz-control's
``ExecStartPre`` fails there with "Failed to set up user namespacing: Invalid
argument" (217/USER, ``PrivateUsers=yes``): qemu-user cannot create user
namespaces, so the API unit gets a ``PrivateUsers=no`` drop-in in this box
(``QEMU_USER_DROPINS``). The player's unit runs as shipped.

Runs with LOMUZ_BOOT_TEST=1 and LOMUZ_BOOT_ARM64=1 (scripts/check-arm64 sets
both); needs root, debootstrap, systemd-nspawn, qemu-user-static.
``LOMUZ_ARM64_DEBS=DIR`` uses packages already built in DIR;
``LOMUZ_BOOT_FIGURES=FILE`` writes the box's figures there as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ops import test_boot as amd64
from tests.ops.bootbox import Box, provisioned_box
from tests.ops.bootroot import enable_binfmt
from tests.ops.conftest import REPO, VERSION, require_tool

pytestmark = [
    pytest.mark.slow,
    pytest.mark.boot,
    pytest.mark.timeout(3600),  # first run: two arm64 roots and the packages, under qemu
    pytest.mark.skipif(
        os.environ.get("LOMUZ_BOOT_TEST") != "1" or os.environ.get("LOMUZ_BOOT_ARM64") != "1",
        reason="set LOMUZ_BOOT_TEST=1 LOMUZ_BOOT_ARM64=1 to boot the arm64 packages (minutes)",
    ),
]

ARCH = "arm64"
# qemu-user cannot create user namespaces ("Failed to set up user namespacing:
# Invalid argument", 217/USER), so the API's PrivateUsers=yes cannot start
# here. The API does not run on a Pi: it gets a drop-in in this box only; the
# player's unit, the one under test, runs as shipped.
QEMU_USER_DROPINS = {
    "/etc/systemd/system/lomuz-control.service.d/qemu-user.conf": (
        "# The arm64 boot test under qemu-user only (tests/ops/test_boot_arm64.py).\n"
        "[Service]\nPrivateUsers=no\n"
    ),
}


@pytest.fixture(scope="module")
def arm64_debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both packages for arm64: from $LOMUZ_ARM64_DEBS, else built now."""
    if os.geteuid() != 0:
        pytest.skip("building and booting packages needs root")
    given = os.environ.get("LOMUZ_ARM64_DEBS")
    if given:
        out = Path(given)
    else:
        out = tmp_path_factory.mktemp("dist-arm64")
        built = subprocess.run(
            [str(REPO / "scripts/build-debs"), "--arch", ARCH, "--no-lintian", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=2400,
            check=False,
        )
        assert built.returncode == 0, built.stdout + built.stderr
    found = {name: out / f"lomuz-{name}_{VERSION}_{ARCH}.deb" for name in ("player", "control")}
    for path in found.values():
        assert path.is_file(), sorted(p.name for p in out.iterdir())
    return found


@pytest.fixture(scope="module")
def box(arm64_debs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    require_tool("debootstrap")
    require_tool("systemd-nspawn")
    require_tool("qemu-aarch64-static")
    enable_binfmt(ARCH)
    started = time.monotonic()
    work = tmp_path_factory.mktemp("boot-arm64")
    with provisioned_box(
        arm64_debs, work, ARCH, machine_name="lomuz-box-arm64", extra_files=QEMU_USER_DROPINS
    ) as provisioned:
        provisioned.figures["provisioned_s"] = round(time.monotonic() - started, 1)
        yield provisioned
        provisioned.figures["all_checks_s"] = round(time.monotonic() - started, 1)
        figures_file = os.environ.get("LOMUZ_BOOT_FIGURES")
        if figures_file:
            Path(figures_file).write_text(json.dumps(provisioned.figures, indent=2) + "\n")


def test_the_box_runs_arm64_code_from_an_arm64_venv(box: Box) -> None:
    # Checked first, while the box is as provisioned.
    assert box.machine.run("uname", "-m").stdout.strip() == "aarch64"
    assert VERSION in box.machine.run("lomuz-player", "--version").stdout
    venv = box.machine.root / "opt/lomuz"
    compiled = [p for p in venv.rglob("*.so*") if p.is_file()]
    assert compiled, "no compiled modules: psutil and sqlalchemy ship some"
    for path in compiled:
        header = subprocess.run(
            ["readelf", "-h", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert "AArch64" in header, path
    assert not list((venv / "player").rglob("control_api")), "the player's venv holds the API"


# The amd64 test's assertions, in its order (the last removes the sound card),
# run against this module's box. Each is wrapped in a function of this module:
# pytest stores a module's marks on the function objects it collects, so
# sharing amd64's objects would give them this module's skip condition too.
def _here(test: Callable[[Box], None]) -> Callable[[Box], None]:
    def run(box: Box) -> None:
        test(box)

    run.__name__ = run.__qualname__ = test.__name__
    run.__doc__ = test.__doc__
    return run


test_both_units_are_active_and_the_player_never_restarted = _here(
    amd64.test_both_units_are_active_and_the_player_never_restarted
)
test_enroll_on_a_running_box_syncs_without_a_restart = _here(
    amd64.test_enroll_on_a_running_box_syncs_without_a_restart
)
test_a_completed_playlist_play_reaches_the_api = _here(
    amd64.test_a_completed_playlist_play_reaches_the_api
)
test_the_tone_reached_alsa = _here(amd64.test_the_tone_reached_alsa)
test_doctor_reports_no_failure = _here(amd64.test_doctor_reports_no_failure)
test_a_planted_problem_shows_once_in_the_warning_journal = _here(
    amd64.test_a_planted_problem_shows_once_in_the_warning_journal
)
test_metrics_count_every_worker_and_pass_promtool = _here(
    amd64.test_metrics_count_every_worker_and_pass_promtool
)
test_without_a_sound_device_doctor_fails_and_no_play_is_completed = _here(
    amd64.test_without_a_sound_device_doctor_fails_and_no_play_is_completed
)
