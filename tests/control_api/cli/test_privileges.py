"""Run as root on an installed layout, ``lomuz-control`` becomes the state directory's owner.

The state directory is a temporary one owned by ``nobody:nogroup`` (standing
in for ``lomuz-control``); the commands run as root in real processes, the way
an operator types them. Every file they leave there — the database, its
``-wal`` and ``-shm`` while a server holds it open, uploaded media — must
belong to nobody, or the service could not open it.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from control_api.cli import SERVICE_UMASK
from control_api.settings import ENV_FILE_VARIABLE
from tests.control_api.media_samples import wav

REPO = Path(__file__).resolve().parents[3]
SITE_PACKAGES = sysconfig.get_paths()["purelib"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="dropping privileges needs root (CI and this machine run as root)"
)


@pytest.fixture(scope="module")
def python() -> list[str]:
    """An interpreter that still imports after becoming nobody.

    A developer's Python may live under /root (pyenv), which nobody cannot read:
    then Debian's python3 of the same version runs this checkout and the venv's
    packages, as the installed package does (/usr/bin/python3 under /opt).
    """
    probe = "import sqlite3, psycopg, control_api.cli"
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{SITE_PACKAGES}"}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (sys.executable, f"/usr/bin/python{version}"):
        usable = subprocess.run(
            ["runuser", "-u", "nobody", "--", exe, "-c", probe],
            env=env,
            cwd="/",
            capture_output=True,
            timeout=60,
            check=False,
        )
        if usable.returncode == 0:
            return [exe, "-m", "control_api.cli"]
    pytest.skip(f"no Python {version} that nobody can run (sys.executable is under /root?)")


@pytest.fixture
def installed() -> Iterator[tuple[Path, dict[str, str]]]:
    """A state directory owned by nobody, and an env file naming it, as postinst leaves them."""
    nobody = pwd.getpwnam("nobody")
    # Not under pytest's tmp_path: that is 0700 root, which nobody cannot traverse.
    base = Path(tempfile.mkdtemp(prefix="lomuz-privdrop-", dir="/tmp"))
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir(mode=0o750)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        env_file = base / "control.env"
        env_file.write_text(
            f"LOMUZ_DATABASE_URL=sqlite:///{state}/control.db\nLOMUZ_MEDIA_DIR={state}/media\n"
        )
        env_file.chmod(0o600)  # root-only, like /etc/lomuz/control.env
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")}
        yield (
            state,
            {
                **clean,
                ENV_FILE_VARIABLE: str(env_file),
                "LOMUZ_TOKEN_CACHE_S": "0",
                "PYTHONPATH": f"{REPO}:{SITE_PACKAGES}",
            },
        )
    finally:
        shutil.rmtree(base)


def run(
    python: list[str], args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python, *args], env=env, cwd="/", capture_output=True, text=True, timeout=60, check=False
    )


def owners(state: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(path.relative_to(state)): (
            path.lstat().st_uid,
            path.lstat().st_gid,
            path.lstat().st_mode & 0o777,
        )
        for path in state.rglob("*")
    }


def assert_all_owned_by_nobody(state: Path) -> dict[str, tuple[int, int, int]]:
    nobody = pwd.getpwnam("nobody")
    found = owners(state)
    assert "control.db" in found
    wrong = {name: o for name, o in found.items() if o[:2] != (nobody.pw_uid, nobody.pw_gid)}
    assert not wrong, f"files not owned by nobody:nogroup: {wrong}"
    return found


def test_root_commands_leave_only_files_of_the_state_dir_owner(
    installed: tuple[Path, dict[str, str]], python: list[str]
) -> None:
    state, env = installed
    created = run(python, ["tenant", "create", "Shop chain", "--json"], env)
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    assert f"lomuz-control: database sqlite:///{state}/control.db" in created.stderr
    issued = run(python, ["token", "issue", "--tenant", tenant["tenant_id"], "--json"], env)
    assert issued.returncode == 0, issued.stderr
    revoked = run(
        python, ["token", "revoke", tenant["admin_token"][:8], "--tenant", tenant["tenant_id"]], env
    )
    assert revoked.returncode == 0, revoked.stderr
    listed = run(python, ["tenant", "list", "--json"], env)
    assert [t["admin_tokens"] for t in json.loads(listed.stdout)["items"]] == [1]
    found = assert_all_owned_by_nobody(state)
    # The unit's UMask= too: nothing the command made is readable by others.
    assert all(mode & ~(0o777 & ~SERVICE_UMASK) == 0 for _, _, mode in found.values()), found


def test_a_root_server_holds_wal_and_shm_as_the_owner(
    installed: tuple[Path, dict[str, str]], python: list[str]
) -> None:
    state, env = installed
    created = run(python, ["tenant", "create", "Shop chain", "--json"], env)
    assert created.returncode == 0, created.stderr
    admin = {"Authorization": f"Bearer {json.loads(created.stdout)['admin_token']}"}
    server = subprocess.Popen(
        [*python, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        cwd="/",
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    try:
        base = ""
        for line in server.stderr:
            found = re.search(r"serving on (http://\S+)", line)
            if found:
                base = found.group(1)
                break
        assert base, "server did not start"
        status = Path(f"/proc/{server.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(pwd.getpwnam("nobody").pw_uid)] * 4
        with httpx.Client(base_url=base, timeout=10) as client:
            uploaded = client.post(
                "/v1/assets",
                content=wav(b"x" * 2000),
                headers={**admin, "Content-Type": "audio/wav"},
            )
            assert uploaded.status_code == 201, uploaded.text
            assert client.get("/v1/assets", headers=admin).status_code == 200
        files = assert_all_owned_by_nobody(state)  # while the server holds the database
        assert {"control.db-wal", "control.db-shm"} <= set(files), sorted(files)
        assert any(name.startswith("media/") for name in files), sorted(files)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    assert server.returncode == 0
    assert_all_owned_by_nobody(state)


def test_a_root_owned_state_dir_keeps_root(tmp_path: Path) -> None:
    """The other side of the rule (a checkout run as root): nothing to drop to."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")},
        ENV_FILE_VARIABLE: "",
        "LOMUZ_DATABASE_URL": f"sqlite:///{tmp_path}/control.db",
        "LOMUZ_MEDIA_DIR": str(tmp_path / "media"),
    }
    done = run([sys.executable, "-m", "control_api.cli"], ["db", "upgrade"], env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "control.db").stat().st_uid == 0
