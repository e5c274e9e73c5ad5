"""``lomuz-control user add|reset-password|disable|enable|list`` as real processes; the
account signs in (or, disabled, does not)."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import urlencode

import pytest

from tests.control_api.conftest import CLI, Api, cli_env

PASSWORD = "correct horse battery"


def _run(
    settings_env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=cli_env(settings_env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def tenant(settings_env: dict[str, str]) -> str:
    done = _run(settings_env, "tenant", "create", "Shop", "--json")
    assert done.returncode == 0, done.stderr
    tenant_id: str = json.loads(done.stdout)["tenant_id"]
    return tenant_id


def _sign_in(api: Api, email: str, password: str) -> int:
    page = api.client.simulate_get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token is not None
    result = api.client.simulate_post(
        "/login",
        body=urlencode({"email": email, "password": password, "csrf_token": token.group(1)}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"lomuz_login_csrf={page.cookies['lomuz_login_csrf'].value}",
        },
    )
    return result.status_code


def test_add_list_and_reset(settings_env: dict[str, str], tenant: str, api: Api) -> None:
    added = _run(
        settings_env,
        "user", "add", "Ed@Shop.example", "--tenant", tenant, "--role", "editor",
        "--password-stdin", stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "ed@shop.example" in added.stdout
    assert "lomuz-control: database " in added.stderr  # says which database it used
    listed = _run(settings_env, "user", "list", "--tenant", tenant, "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert [(u["email"], u["role"], u["disabled"]) for u in items] == [
        ("ed@shop.example", "editor", False)
    ]
    assert "hash" not in listed.stdout and PASSWORD not in listed.stdout
    assert _sign_in(api, "ed@shop.example", PASSWORD) == 303
    reset = _run(
        settings_env, "user", "reset-password", "ED@shop.example", "--password-stdin",
        stdin="a brand new password",
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    assert "session(s) signed out" in reset.stdout
    assert _sign_in(api, "ed@shop.example", PASSWORD) == 401
    assert _sign_in(api, "ed@shop.example", "a brand new password") == 303
    text = _run(settings_env, "user", "list", "--tenant", tenant)
    assert text.stdout.strip() == "ed@shop.example\teditor\tenabled"


@pytest.mark.parametrize(
    ("args", "stdin", "code", "says"),
    [
        (["--role", "editor"], "short", 2, "password: must be at least 10 characters"),
        (["--role", "editor"], "", 2, "password: empty"),
        (["--role", "editor"], "ed@shop.example", 2, "must not be the email"),
        (["--role", "boss"], PASSWORD, 2, "invalid choice"),
    ],
)
def test_add_refuses_bad_input(
    settings_env: dict[str, str], tenant: str, args: list[str], stdin: str, code: int, says: str
) -> None:
    done = _run(
        settings_env, "user", "add", "ed@shop.example", "--tenant", tenant, *args,
        "--password-stdin", stdin=stdin,
    )  # fmt: skip
    assert done.returncode == code
    assert says in done.stderr


def test_clear_errors_for_unknown_tenant_taken_email_and_unknown_user(
    settings_env: dict[str, str], tenant: str
) -> None:
    def add(tenant_id: str) -> subprocess.CompletedProcess[str]:
        return _run(
            settings_env, "user", "add", "ed@shop.example", "--tenant", tenant_id,
            "--role", "viewer", "--password-stdin", stdin=PASSWORD,
        )  # fmt: skip

    unknown = add("ten_nope")
    assert unknown.returncode == 1 and "no tenant ten_nope" in unknown.stderr
    assert add(tenant).returncode == 0
    taken = add(tenant)
    assert taken.returncode == 1 and "already has a director user" in taken.stderr
    nobody = _run(
        settings_env, "user", "reset-password", "nobody@shop.example", "--password-stdin",
        stdin=PASSWORD,
    )  # fmt: skip
    assert nobody.returncode == 1 and "no director user nobody@shop.example" in nobody.stderr


def test_reset_asks_for_the_tenant_when_the_email_is_in_several(
    settings_env: dict[str, str], tenant: str
) -> None:
    other = json.loads(_run(settings_env, "tenant", "create", "Other", "--json").stdout)
    for tenant_id in (tenant, other["tenant_id"]):
        done = _run(
            settings_env, "user", "add", "sam@chain.example", "--tenant", tenant_id,
            "--role", "admin", "--password-stdin", stdin=PASSWORD,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    args = ["user", "reset-password", "sam@chain.example", "--password-stdin"]
    ambiguous = _run(settings_env, *args, stdin="a brand new password")
    assert ambiguous.returncode == 2
    assert "tenant" in ambiguous.stderr and other["tenant_id"] in ambiguous.stderr
    named = _run(settings_env, *args, "--tenant", tenant, stdin="a brand new password")
    assert named.returncode == 0, named.stderr


def test_disable_and_enable(settings_env: dict[str, str], tenant: str, api: Api) -> None:
    for email, role in (("boss@shop.example", "admin"), ("ed@shop.example", "editor")):
        done = _run(
            settings_env, "user", "add", email, "--tenant", tenant, "--role", role,
            "--password-stdin", stdin=PASSWORD,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert _sign_in(api, "ed@shop.example", PASSWORD) == 303
    disabled = _run(settings_env, "user", "disable", "Ed@shop.example")
    assert disabled.returncode == 0, disabled.stderr
    assert "ed@shop.example of tenant" in disabled.stdout and "is disabled" in disabled.stdout
    assert "1 session(s) signed out" in disabled.stdout
    assert _sign_in(api, "ed@shop.example", PASSWORD) == 403
    listed = _run(settings_env, "user", "list", "--tenant", tenant)
    assert listed.stdout.splitlines() == [
        "boss@shop.example\tadmin\tenabled",
        "ed@shop.example\teditor\tdisabled",
    ]
    last = _run(settings_env, "user", "disable", "boss@shop.example", "--tenant", tenant)
    assert last.returncode == 1 and "last enabled admin" in last.stderr
    assert _sign_in(api, "boss@shop.example", PASSWORD) == 303
    enabled = _run(settings_env, "user", "enable", "ed@shop.example", "--tenant", tenant)
    assert enabled.returncode == 0 and "is enabled" in enabled.stdout
    assert _sign_in(api, "ed@shop.example", PASSWORD) == 303
    nobody = _run(settings_env, "user", "disable", "nobody@shop.example")
    assert nobody.returncode == 1 and "no director user nobody@shop.example" in nobody.stderr
