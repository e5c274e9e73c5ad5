"""A Debian 12 root booted under real systemd (systemd-nspawn), for the boot tests.

The production path as a test path (DESIGN §7, CONVENTIONS 15): a minimal
bookworm root made by debootstrap (cached under the machine's cache
directory, keyed by architecture), copied per test, booted with
``systemd-nspawn --boot`` in a private network namespace (its loopback is its
own: the API and the player inside talk over it, nothing leaves the box).
Commands run inside through ``nsenter`` into the container's namespaces.

Where no host systemd runs (a CI container) nspawn needs ``--register=no
--keep-unit`` and a tmpfs on ``/run/systemd/nspawn``; both are done here.
The root is downloaded from Debian's archive once; later runs reuse it and
a shared apt archive cache, so a boot test costs about a minute.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What a fresh Debian 12 box has before our packages: an init system and apt.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "ca-certificates")
# Bump when the recipe changes so cached roots are rebuilt.
ROOT_RECIPE = "1"
PATH_IN_ROOT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cache_dir() -> Path:
    """``$LOMUZ_BOOT_CACHE``, else ``$XDG_CACHE_HOME/lomuz-boot``, else /var/cache/lomuz-boot."""
    explicit = os.environ.get("LOMUZ_BOOT_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "lomuz-boot" if xdg else Path("/var/cache/lomuz-boot")


def _run(argv: Sequence[str], timeout_s: float, **kwargs: object) -> str:
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if done.returncode != 0:
        command = " ".join(argv)
        raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return str(done.stdout)


def base_root(arch: str, include: Sequence[str] = ()) -> Path:
    """The cached minimal root for ``arch`` (made on first use, atomically).

    ``include`` adds Debian packages to the minimal set (the arm64 build root
    needs ``python3-venv``); each set of extras is its own cached root, so the
    plain one stays what a fresh box has. A foreign ``arch`` runs under
    qemu-user-static through binfmt (:func:`enable_binfmt`).
    """
    extras = sorted(set(include) - set(BASE_PACKAGES))
    name = f"{SUITE}-{arch}-r{ROOT_RECIPE}" + "".join(f"+{pkg}" for pkg in extras)
    root = cache_dir() / name
    if (root / "etc/os-release").is_file():
        return root
    if arch != host_arch():
        enable_binfmt(arch)
    root.parent.mkdir(parents=True, exist_ok=True)
    building = root.with_name(root.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    argv = [
        "debootstrap",
        f"--arch={arch}",
        "--variant=minbase",
        f"--include={','.join([*BASE_PACKAGES, *extras])}",
        SUITE,
        str(building),
        MIRROR,
    ]
    _run(argv, timeout_s=3600)
    # apt's lists, so installs inside need no `apt-get update` of their own.
    (building / "etc/apt/sources.list").write_text(f"deb {MIRROR} {SUITE} main\n")
    _run(["chroot", str(building), "apt-get", "update", "-qq"], timeout_s=600)
    (building / "etc/hostname").write_text("lomuz-box\n")
    building.rename(root)
    return root


def host_arch() -> str:
    """Debian's name for this machine's architecture (``amd64``, ``arm64``)."""
    return _run(["dpkg", "--print-architecture"], timeout_s=30).strip()


# Debian architecture -> the binfmt entry of Debian's qemu-user-static.
QEMU_BINFMT = {"arm64": "qemu-aarch64", "armhf": "qemu-arm", "amd64": "qemu-x86_64"}


def enable_binfmt(arch: str) -> None:
    """Make the kernel run ``arch`` binaries through qemu-user-static (binfmt_misc).

    The entry needs the F flag (interpreter opened at registration), so that it
    also works inside a root that has no qemu of its own.
    """
    entry = QEMU_BINFMT.get(arch)
    if entry is None:
        raise RuntimeError(f"no qemu-user binfmt entry known for {arch}")
    misc = Path("/proc/sys/fs/binfmt_misc")
    if not (misc / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)], timeout_s=30)
    status = misc / entry
    if not status.is_file() or "enabled" not in status.read_text():
        _run(["update-binfmts", "--enable", entry], timeout_s=30)
    flags = next(
        (line for line in status.read_text().splitlines() if line.startswith("flags:")), ""
    )
    if "F" not in flags:
        raise RuntimeError(f"{status}: {flags!r}, needs F (apt-get install qemu-user-static)")


def copy_root(base: Path, target: Path) -> Path:
    """A private copy of ``base`` a test may change at will."""
    _run(["cp", "-a", "--reflink=auto", str(base), str(target)], timeout_s=600)
    return target


def _nspawn_run_dir() -> None:
    """nspawn keeps per-container state under /run/systemd/nspawn, which must be a tmpfs."""
    path = Path("/run/systemd/nspawn")
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode != 0:
        _run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(path)], timeout_s=30)


def _ns_pid_one(ancestor: int) -> int | None:
    """The descendant of ``ancestor`` that is PID 1 of its own PID namespace."""
    children: dict[int, list[int]] = {}
    nspids: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            lines = (entry / "status").read_text().splitlines()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        nspids[pid] = fields.get("NSpid", "").split()
    todo = list(children.get(ancestor, []))
    while todo:
        pid = todo.pop()
        chain = nspids.get(pid, [])
        if len(chain) > 1 and chain[-1] == "1":
            return pid
        todo.extend(children.get(pid, []))
    return None


@dataclass
class BootedRoot:
    """A root booted under systemd; ``run`` executes inside it as root."""

    root: Path
    binds: Sequence[tuple[Path, str]] = ()
    log_path: Path | None = None
    machine_name: str = "lomuz-box"  # distinct names let two boots run at once
    _nspawn: subprocess.Popen[bytes] | None = None
    leader: int = 0
    _log: object = field(default=None, repr=False)

    def boot(self, timeout_s: float = 120) -> None:
        _nspawn_run_dir()
        argv = [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            f"--directory={self.root}",
            f"--machine={self.machine_name}",
        ]
        for host, inside in self.binds:
            argv.append(f"--bind={host}:{inside}")
        log = open(self.log_path or os.devnull, "wb")  # noqa: SIM115 - closed in poweroff
        self._log = log
        self._nspawn = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self._nspawn.returncode}")
            leader = _ns_pid_one(self._nspawn.pid)
            if leader is not None:
                self.leader = leader
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the container's init never appeared")
        state = ""
        while time.monotonic() < deadline:
            done = self.run("systemctl", "is-system-running", check=False, timeout_s=30)
            state = done.stdout.strip()
            if state in {"running", "degraded"}:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the container did not finish booting: {state!r}")

    def _enter(self, namespaces: Sequence[str]) -> list[str]:
        return ["nsenter", f"--target={self.leader}", *namespaces]

    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout_s: float = 120,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the container, as root, with a clean environment."""
        full = [
            *self._enter(["--all"]),
            "env",
            "-i",
            f"PATH={PATH_IN_ROOT}",
            "LANG=C.UTF-8",
            "HOME=/root",
            *argv,
        ]
        done = subprocess.run(
            full,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            input=input_text,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"in the container: {' '.join(argv)} exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def net_argv(self, argv: Sequence[str]) -> list[str]:
        """A host program run in the container's network namespace only (its loopback)."""
        return [*self._enter(["--net"]), *argv]

    def journal(self, *args: str) -> str:
        return self.run("journalctl", "--no-pager", "-q", *args, check=False).stdout

    def poweroff(self, timeout_s: float = 60) -> None:
        if self._nspawn is None:
            return
        if self._nspawn.poll() is None:
            # Asked through systemctl rather than SIGRTMIN+4: under qemu-user
            # (a foreign-arch root) host real-time signals reach the guest
            # renumbered, and SIGRTMIN+4 arrives as SIGRTMIN+2, "emergency".
            try:
                self.run("systemctl", "--no-block", "poweroff", timeout_s=30)
            except Exception:  # best effort: the signal, then the kill
                with contextlib.suppress(Exception):
                    os.kill(self.leader, signal.SIGRTMIN + 4)  # systemd: orderly poweroff
            try:
                self._nspawn.wait(timeout_s)
            except subprocess.TimeoutExpired:
                # The namespace's PID 1 first: killing nspawn alone leaves it running.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.leader, signal.SIGKILL)
                os.killpg(self._nspawn.pid, signal.SIGKILL)
                self._nspawn.wait(30)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def booted(root: Path, **kwargs: object) -> Iterator[BootedRoot]:
    machine = BootedRoot(root, **kwargs)  # type: ignore[arg-type]
    try:
        machine.boot()
        yield machine
    finally:
        machine.poweroff()


if __name__ == "__main__":
    # python3 -m tests.ops.bootroot ARCH [PACKAGE...]: print the cached root's path
    # (scripts/build-debs --arch makes its build root this way).
    import sys

    print(base_root(sys.argv[1], include=sys.argv[2:]))
