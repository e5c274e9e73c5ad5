"""Field figures of the installed packages under real systemd (docs/BENCHMARKS.md).

    .venv/bin/python scripts/soak/boot_figures.py [--debs DIR] [--minutes 10] [--json]

Provisions a booted Debian 12 box exactly as the boot test does
(tests/ops/bootbox.py; root, needs debootstrap and systemd-nspawn), then
measures: packages and KiB that `apt-get install --no-install-recommends`
added; the player unit's RSS after N minutes of playing; the player's journal
lines in N minutes of normal play and in N minutes without a sound device;
and, after a power-off and a fresh boot of the same root, the time from
starting the container to the first audio bytes reaching ALSA.
Without --debs the packages are built first (scripts/build-debs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.ops.bootbox import (  # noqa: E402 - the repo root goes on the path first
    ASOUND_FILE_PLUGIN,
    CAPTURE,
    provisioned_box,
)
from tests.ops.bootroot import BootedRoot  # noqa: E402


def _arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _debs(directory: Path | None, work: Path, arch: str) -> dict[str, Path]:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    if directory is None:
        directory = work / "dist"
        subprocess.run(
            [str(REPO / "scripts/build-debs"), "--no-lintian", "--out", str(directory)],
            check=True,
            timeout=1800,
        )
    names = ("player", "control")
    return {name: directory / f"lomuz-{name}_{version}_{arch}.deb" for name in names}


def _player_rss_kib(machine: BootedRoot) -> int:
    pid = machine.run("systemctl", "show", "-p", "MainPID", "--value", "lomuz-player").stdout
    status = machine.run("cat", f"/proc/{pid.strip()}/status").stdout
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def _journal_lines(machine: BootedRoot, since: str) -> int:
    text = machine.journal("-u", "lomuz-player", "--since", since, "-o", "cat")
    return len(text.splitlines())


def _now(machine: BootedRoot) -> str:
    return machine.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()


def _capture_bytes(root: Path) -> int:
    path = root / CAPTURE.lstrip("/")
    try:
        return max(0, path.stat().st_size - 44)  # a WAV header alone is no sound
    except FileNotFoundError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debs", type=Path, help="directory with the built .debs")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    arch = _arch()
    figures: dict[str, object] = {"arch": arch, "minutes": args.minutes}
    with tempfile.TemporaryDirectory(prefix="lomuz-boot-figures.") as tmp:
        work = Path(tmp)
        debs = _debs(args.debs, work, arch)
        with provisioned_box(debs, work, arch, machine_name="lomuz-figures") as box:
            machine = box.machine
            figures.update({k: v for k, v in box.figures.items() if not k.endswith("_mono")})
            since = _now(machine)
            time.sleep(args.minutes * 60)
            figures["player_rss_kib_after_playing"] = _player_rss_kib(machine)
            figures["journal_lines_playing"] = _journal_lines(machine, since)
            machine.run("rm", "/etc/asound.conf")
            machine.run("systemctl", "restart", "lomuz-player")
            since = _now(machine)
            time.sleep(args.minutes * 60)
            figures["journal_lines_no_sound_device"] = _journal_lines(machine, since)
            figures["player_rss_kib_no_sound_device"] = _player_rss_kib(machine)
            root = machine.root
        # A cold boot of the same box, sound device back.
        (root / "etc/asound.conf").write_text(ASOUND_FILE_PLUGIN)
        (root / CAPTURE.lstrip("/")).unlink(missing_ok=True)
        started = time.monotonic()
        again = BootedRoot(root, machine_name="lomuz-figures")
        try:
            again.boot()
            deadline = time.monotonic() + 180
            while _capture_bytes(root) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            figures["boot_to_first_audio_s"] = (
                round(time.monotonic() - started, 1) if _capture_bytes(root) else None
            )
        finally:
            again.poweroff()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
