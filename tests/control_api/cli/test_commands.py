"""``lomuz-control`` commands: the database line, tenants, admin tokens, the state directory.

Most run ``main()`` in this process, next to an app built by ``create_app``: a
token revoked by the command must get 401 from that app at once, even with the
token cache on. A few run the CLI as a real process where the process matters
(its environment, its working directory, its exit code).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import falcon.testing
import pytest

from control_api.app import create_app
from control_api.cli import EX_CONFIG, EX_FAILURE, EX_USAGE, enter_state_dir, main
from control_api.settings import ENV_FILE_VARIABLE, CommandEnvironment, load_settings
from control_api.store import repository as repo
from control_api.store.db import Database
from control_api.store.models import AdminToken
from tests.control_api.openapi_check import CheckedClient

CLI = [sys.executable, "-m", "control_api.cli"]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.out)
        return loaded


Cli = Callable[..., Ran]


@pytest.fixture
def env(settings_env: dict[str, str]) -> dict[str, str]:
    # No installed file leaks in; the token cache on, as on a server.
    return {**settings_env, ENV_FILE_VARIABLE: "", "LOMUZ_TOKEN_CACHE_S": "60"}


@pytest.fixture
def cli(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main(list(args), environ=env)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def _client(env: dict[str, str]) -> Iterator[falcon.testing.TestClient]:
    app = create_app(load_settings(env))
    try:
        yield CheckedClient(app)
    finally:
        app.close()


@pytest.fixture
def client(env: dict[str, str], cli: Cli) -> Iterator[falcon.testing.TestClient]:
    assert cli("db", "upgrade").code == 0  # create_app expects a migrated database
    yield from _client(env)


def _status(client: falcon.testing.TestClient, token: str) -> int:
    result = client.simulate_get("/v1/assets", headers={"Authorization": f"Bearer {token}"})
    return result.status_code


def test_every_command_says_which_database_it_used(cli: Cli, env: dict[str, str]) -> None:
    for args in (["db", "upgrade"], ["tenant", "list"], ["tenant", "create", "Shop"]):
        ran = cli(*args)
        assert ran.code == 0, ran.err
        line = f"lomuz-control: database {load_settings(env).masked_database_url()}"
        assert line in ran.err.splitlines(), ran.err


def test_the_database_line_masks_a_postgresql_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://lomuz:s3cret-pw@127.0.0.1:1/lomuz"  # nothing listens on 1
    done = subprocess.run(
        [*CLI, "tenant", "list"],
        env={
            **os.environ,
            ENV_FILE_VARIABLE: "",
            "LOMUZ_DATABASE_URL": url,
            "LOMUZ_MEDIA_DIR": str(tmp_path / "media"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EX_FAILURE
    assert "lomuz-control: database postgresql+psycopg://lomuz:***@127.0.0.1:1/lomuz" in (
        done.stderr.splitlines()
    )
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_tenant_list(cli: Cli) -> None:
    assert cli("tenant", "list", "--json").json() == {"items": []}
    first = cli("tenant", "create", "Shop chain", "--json").json()
    second = cli("tenant", "create", "Kiosks", "--json").json()
    assert cli("token", "issue", "--tenant", str(second["tenant_id"])).code == 0
    items = cli("tenant", "list", "--json").json()["items"]
    assert isinstance(items, list)
    assert [(t["id"], t["name"], t["admin_tokens"]) for t in items] == [
        (first["tenant_id"], "Shop chain", 1),
        (second["tenant_id"], "Kiosks", 2),
    ]
    assert all(str(t["created_at"]).endswith("Z") for t in items)
    text = cli("tenant", "list")
    assert text.out.splitlines() == [
        f"{first['tenant_id']}\tShop chain\t1 admin token(s)",
        f"{second['tenant_id']}\tKiosks\t2 admin token(s)",
    ]


def test_issued_token_works_and_a_revoked_one_gets_401_at_once(
    cli: Cli, client: falcon.testing.TestClient
) -> None:
    created = cli("tenant", "create", "Shop chain", "--json").json()
    tenant, first = str(created["tenant_id"]), str(created["admin_token"])
    assert _status(client, first) == 200  # and cached, were admin tokens cached
    issued = cli("token", "issue", "--tenant", tenant, "--json").json()
    assert issued["tenant_id"] == tenant
    second = str(issued["admin_token"])
    assert second != first
    assert _status(client, second) == 200

    revoked = cli("token", "revoke", first[:8], "--tenant", tenant)
    assert revoked.code == 0, revoked.err
    assert f"revoked admin token {first[:8]}..." in revoked.out
    assert "warning" not in revoked.err
    assert _status(client, first) == 401
    assert _status(client, second) == 200

    last = cli("token", "revoke", second, "--tenant", tenant)  # the whole token works too
    assert last.code == 0, last.err
    assert "no admin token left" in last.err
    assert f"token issue --tenant {tenant}" in last.err
    assert _status(client, second) == 401
    listed = cli("tenant", "list", "--json").json()["items"]
    assert isinstance(listed, list)
    assert listed[0]["admin_tokens"] == 0


def test_revoke_refuses_what_it_cannot_pin_down(
    cli: Cli, env: dict[str, str], client: falcon.testing.TestClient
) -> None:
    tenant = str(cli("tenant", "create", "Shop", "--json").json()["tenant_id"])
    other = cli("tenant", "create", "Other", "--json").json()
    now = datetime.now(UTC)
    db = Database(env["LOMUZ_DATABASE_URL"])
    try:
        with db.write() as s:  # two tokens sharing a prefix, and one from before prefixes
            for plain, prefix in (
                ("twin-one", "Twin0001"),
                ("twin-two", "Twin0002"),
                ("legacy-token-without-prefix", None),
            ):
                s.add(
                    AdminToken(
                        token_hash=repo.hash_secret(plain),
                        tenant_id=tenant,
                        prefix=prefix,
                        created_at=now,
                    )
                )
    finally:
        db.dispose()

    ambiguous = cli("token", "revoke", "Twin", "--tenant", tenant)
    assert ambiguous.code == EX_FAILURE
    assert "matches 2 admin tokens" in ambiguous.err
    assert "nothing was revoked" in ambiguous.err
    assert _status(client, "twin-one") == 200
    assert _status(client, "twin-two") == 200

    # "_" is a base64url character and a LIKE wildcard: it must match itself only.
    wildcard = cli("token", "revoke", "Twin_00", "--tenant", tenant)
    assert wildcard.code == EX_FAILURE
    assert "starts with 'Twin_00'" in wildcard.err
    assert cli("token", "revoke", "Twin0002", "--tenant", tenant).code == 0
    assert _status(client, "twin-two") == 401
    assert _status(client, "twin-one") == 200

    # Another tenant's token is not found through this tenant.
    theirs = str(other["admin_token"])
    missing = cli("token", "revoke", theirs[:8], "--tenant", tenant)
    assert missing.code == EX_FAILURE
    assert "starts with" in missing.err
    assert _status(client, theirs) == 200

    legacy = cli("token", "revoke", "legacy-token-without-prefix", "--tenant", tenant)
    assert legacy.code == 0, legacy.err
    assert _status(client, "legacy-token-without-prefix") == 401

    assert cli("token", "revoke", "abc", "--tenant", tenant).code == EX_USAGE
    unknown = cli("token", "revoke", "abcd1234", "--tenant", "ten_nope")
    assert unknown.code == EX_FAILURE
    assert "no tenant ten_nope" in unknown.err
    assert cli("token", "issue", "--tenant", "ten_nope").code == EX_FAILURE


def test_usage_errors_exit_2(cli: Cli) -> None:
    for args in (["token", "revoke", "abcd1234"], ["token"], ["tenant", "list", "--all"]):
        with pytest.raises(SystemExit) as exited:
            cli(*args)
        assert exited.value.code == EX_USAGE
    assert cli("tenant", "create", "  ").code == EX_USAGE


# ---------------------------------------------------------------- settings and state dir


def _process(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")}
    return subprocess.run(
        [*CLI, *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_read_the_env_file_and_the_process_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env_file = tmp_path / "control.env"
    env_file.write_text(
        "# as installed\n"
        f"LOMUZ_DATABASE_URL='sqlite:///{tmp_path}/a/control.db'\n"
        f"LOMUZ_MEDIA_DIR={tmp_path}/a/media\n"
    )
    from_file = _process(
        ["tenant", "create", "A", "--json"], {ENV_FILE_VARIABLE: str(env_file)}, tmp_path
    )
    assert from_file.returncode == 0, from_file.stderr
    assert f"lomuz-control: database sqlite:///{tmp_path}/a/control.db" in from_file.stderr
    assert (tmp_path / "a/control.db").is_file()

    overridden = _process(
        ["tenant", "create", "B", "--json"],
        {ENV_FILE_VARIABLE: str(env_file), "LOMUZ_DATABASE_URL": f"sqlite:///{tmp_path}/b/c.db"},
        tmp_path,
    )
    assert overridden.returncode == 0, overridden.stderr
    assert (tmp_path / "b/c.db").is_file()
    listed = _process(["tenant", "list", "--json"], {ENV_FILE_VARIABLE: str(env_file)}, tmp_path)
    assert [t["name"] for t in json.loads(listed.stdout)["items"]] == ["A"]


def test_a_malformed_env_file_exits_78_naming_the_line(tmp_path: Path) -> None:
    env_file = tmp_path / "control.env"
    env_file.write_text("LOMUZ_MEDIA_DIR=/m\nLOMUZ_DATABASE_URL postgresql://x\n")
    done = _process(["tenant", "list"], {ENV_FILE_VARIABLE: str(env_file)}, tmp_path)
    assert done.returncode == EX_CONFIG
    assert f"{env_file}:2" in done.stderr
    assert "lomuz-control: database" not in done.stderr


def test_a_missing_state_dir_is_explained_and_never_created(tmp_path: Path) -> None:
    # No env file, no URL: the development default ./lomuz-data, which does not exist.
    bare = _process(["tenant", "create", "Shop chain", "--json"], {ENV_FILE_VARIABLE: ""}, tmp_path)
    assert bare.returncode == EX_CONFIG
    assert f"{tmp_path}/lomuz-data does not exist" in bare.stderr
    assert "no env file" in bare.stderr
    assert "mkdir -p" in bare.stderr
    assert bare.stdout == ""
    assert not (tmp_path / "lomuz-data").exists()

    env_file = tmp_path / "control.env"
    env_file.write_text(f"LOMUZ_DATABASE_URL=sqlite:///{tmp_path}/gone/control.db\n")
    installed = _process(["db", "upgrade"], {ENV_FILE_VARIABLE: str(env_file)}, tmp_path)
    assert installed.returncode == EX_CONFIG
    assert f"from {env_file}" in installed.stderr
    assert "reinstall lomuz-control" in installed.stderr
    assert not (tmp_path / "gone").exists()


def test_serve_in_a_checkout_may_still_create_lomuz_data(tmp_path: Path) -> None:
    settings = load_settings({"LOMUZ_DATABASE_URL": f"sqlite:///{tmp_path}/lomuz-data/c.db"})
    no_file = CommandEnvironment({}, None)
    assert enter_state_dir(settings, no_file, create=True) is None  # serve: allowed
    from control_api.cli import CommandError

    with pytest.raises(CommandError) as refused:
        enter_state_dir(settings, no_file, create=False)
    assert refused.value.exit_code == EX_CONFIG
    installed = CommandEnvironment({}, tmp_path / "control.env")
    with pytest.raises(CommandError):
        enter_state_dir(settings, installed, create=True)  # installed: serve refuses too
