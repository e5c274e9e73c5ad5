"""A provisioned shop box for the boot tests and the boot figures script.

``provisioned_box`` takes built packages and gives a booted Debian 12 root
(tests/ops/bootroot.py) set up exactly as docs/OPERATIONS.md tells an
operator: both packages installed with ``apt-get install
--no-install-recommends``, the API started by its unit and a tenant made with
the documented admin command, a playlist of one tone scheduled to every
device by a director over HTTP, the player started unenrolled (a box that
booted before anyone enrolled it), then enrolled as the ``lomuz`` user and
enabled. ALSA's default PCM is a ``file`` plugin: what the box would send to
its speaker lands in ``CAPTURE``.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ops.bootroot import BootedRoot, base_root, booted, cache_dir, copy_root
from tests.player.playback.fakes import write_tone

REPO = Path(__file__).resolve().parents[2]

TONE_HZ = 1234.0
API = "http://127.0.0.1:8080"
CAPTURE = "/var/lib/lomuz-player/alsa-capture.wav"
ASOUND_FILE_PLUGIN = f"""\
# The boot test's sound card: everything played lands in a WAV file.
pcm.!default {{
    type file
    slave.pcm "null"
    file "{CAPTURE}"
    format "wav"
}}
"""


@dataclass
class Box:
    machine: BootedRoot
    admin_token: str
    setup: dict[str, str]
    figures: dict[str, Any]

    def director(self, *args: str, timeout_s: float = 120) -> str:
        argv = self.machine.net_argv(
            [sys.executable, "-m", "tests.ops.boot_director", API, self.admin_token, *args]
        )
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, cwd=REPO, check=False
        )
        assert done.returncode == 0, f"director {args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def api_plays(self) -> list[dict[str, Any]]:
        plays: list[dict[str, Any]] = json.loads(self.director("plays"))
        return plays

    def local_plays(self) -> list[dict[str, Any]]:
        done = self.machine.run("lomuz-player", "plays", "--json")
        plays: list[dict[str, Any]] = json.loads(done.stdout)
        return plays

    def doctor(self) -> dict[str, Any]:
        done = self.machine.run("lomuz-player", "doctor", "--json", check=False)
        report: dict[str, Any] = json.loads(done.stdout)
        report["exit_code"] = done.returncode
        return report


def until(condition: Any, timeout_s: float, every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def tone_share(wav: Path, freq_hz: float) -> float:
    """The largest share of a window's energy at ``freq_hz`` in a (possibly growing) WAV."""
    data = wav.read_bytes()
    fmt = data.find(b"fmt ")
    body = data.find(b"data")
    if fmt < 0 or body < 0:
        return 0.0
    tag, channels, rate = (
        int.from_bytes(data[fmt + 8 : fmt + 10], "little"),
        int.from_bytes(data[fmt + 10 : fmt + 12], "little"),
        int.from_bytes(data[fmt + 12 : fmt + 16], "little"),
    )
    bits = int.from_bytes(data[fmt + 22 : fmt + 24], "little")
    raw = data[body + 8 :]
    samples: array.array[Any]
    if tag == 1 and bits == 16:
        samples = array.array("h")
    elif tag == 3 and bits == 32:
        samples = array.array("f")
    else:
        raise AssertionError(f"unexpected WAV format tag {tag}, {bits} bits")
    raw = raw[: len(raw) - len(raw) % (samples.itemsize * channels)]
    samples.frombytes(raw)
    mono = samples[0::channels]
    window = 2048
    coefficient = 2 * math.cos(2 * math.pi * freq_hz / rate)
    best = 0.0
    for start in range(0, max(0, len(mono) - window), rate // 4):
        chunk = mono[start : start + window]
        energy = sum(x * x for x in chunk)
        if energy <= 0:
            continue
        s1 = s2 = 0.0
        for x in chunk:
            s1, s2 = x + coefficient * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        best = max(best, 2 * power / (window * energy))
    return best


@contextlib.contextmanager
def provisioned_box(
    debs: dict[str, Path],
    work: Path,
    arch: str,
    *,
    machine_name: str = "lomuz-box",
    extra_files: Mapping[str, str] | None = None,
) -> Iterator[Box]:
    """A booted, provisioned box; powered off when the block ends.

    ``extra_files`` (absolute path in the box -> text) are written before it
    boots: what an environment needs that a real box does not.
    """
    root = copy_root(base_root(arch), work / "root")
    for inside, text in (extra_files or {}).items():
        target = root / inside.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (root / "root/debs").mkdir()
    for deb in debs.values():
        shutil.copy2(deb, root / "root/debs" / deb.name)
    (root / "etc/asound.conf").write_text(ASOUND_FILE_PLUGIN)
    write_tone(work / "tone.wav", TONE_HZ, 6000)
    archives = cache_dir() / f"apt-archives-{arch}"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    # Fetch what the install will need while the network is there; the booted
    # box has a private network and installs from this cache.
    subprocess.run(
        ["mount", "--bind", str(archives), str(root / "var/cache/apt/archives")], check=True
    )
    try:
        shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
        fetched = subprocess.run(
            [
                "chroot",
                str(root),
                "apt-get",
                "install",
                "-y",
                "-q",
                "--download-only",
                "--no-install-recommends",
                *[f"/root/debs/{d.name}" for d in debs.values()],
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"},
        )
        if fetched.returncode != 0:
            raise RuntimeError(fetched.stdout + fetched.stderr)
    finally:
        subprocess.run(["umount", str(root / "var/cache/apt/archives")], check=True)

    figures: dict[str, Any] = {"arch": arch}
    with booted(
        root,
        binds=[(archives, "/var/cache/apt/archives")],
        log_path=work / "console.log",
        machine_name=machine_name,
    ) as machine:
        before = set(machine.run("dpkg-query", "-W", "-f", "${Package}\n").stdout.split())
        # 1. Install, as docs/OPERATIONS.md says.
        installed = machine.run(
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            *[f"/root/debs/{d.name}" for d in debs.values()],
            timeout_s=900,
        )
        newly = re.search(r"(\d+) newly installed", installed.stdout)
        figures["packages_installed"] = int(newly.group(1)) if newly else None
        sizes = machine.run("dpkg-query", "-W", "-f", "${Package} ${Installed-Size}\n").stdout
        figures["installed_kib"] = sum(
            int(size)
            for name, _, size in (line.partition(" ") for line in sizes.splitlines())
            if name not in before and size.isdigit()
        )
        # 2. The API: its unit with the default settings, then the admin command.
        machine.run("systemctl", "enable", "--now", "lomuz-control")
        box = Box(machine, "-", {}, figures)
        box.director("wait-healthy")
        tenant = machine.run("lomuz-control", "tenant", "create", "Shop chain", "--json")
        box.admin_token = json.loads(tenant.stdout)["admin_token"]
        box.setup = json.loads(box.director("setup", str(work / "tone.wav")))
        # 3. The box booted before anyone enrolled it: the enabled unit runs.
        machine.run("systemctl", "start", "lomuz-player")
        # 4. Enroll and enable, as the technician does.
        started_mono = time.monotonic()
        # As docs/OPERATIONS.md does it: the code on standard input, off every command line.
        machine.run(
            "runuser",
            "-u",
            "lomuz",
            "--",
            "lomuz-player",
            "enroll",
            "--api",
            API,
            "--code-stdin",
            input_text=box.setup["enrollment_code"] + "\n",
        )
        machine.run("systemctl", "enable", "--now", "lomuz-player")
        figures["player_enabled_mono"] = time.monotonic()
        box.figures["enroll_to_first_sync_s"] = until(
            lambda: (
                json.loads(machine.run("lomuz-player", "status", "--json").stdout).get(
                    "last_sync_at"
                )
                and round(time.monotonic() - started_mono, 1)
            ),
            60,
        )
        try:
            yield box
        finally:
            # Keep what helps a failing run.
            (work / "journal.txt").write_text(machine.journal("-b"))
