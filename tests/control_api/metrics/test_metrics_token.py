"""/metrics shows every tenant's counts: only a scraper holding the server's token reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from control_api.errors import ConfigError
from control_api.openapi import build_openapi
from control_api.settings import load_settings
from tests.control_api.conftest import METRICS_TOKEN, Api, make_api
from tests.control_api.metrics.helpers import samples
from tests.ops.conftest import UNITS, parse_unit


@pytest.fixture
def api_without_token(settings_env: dict[str, str]) -> Iterator[Api]:
    env = {k: v for k, v in settings_env.items() if k != "LOMUZ_METRICS_TOKEN"}
    yield from make_api(env)


def test_the_right_bearer_token_reads_the_metrics(api: Api) -> None:
    answer = api.call("GET", "/metrics", METRICS_TOKEN)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert ("lomuz_devices", ()) in samples(answer.content)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Basic {METRICS_TOKEN}",
        f"Bearer {METRICS_TOKEN}x",
        f"Bearer {METRICS_TOKEN[:-1]}",
        "Bearer ",
        f"Bearer{METRICS_TOKEN}",
    ],
)
def test_a_missing_or_wrong_token_gets_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = api.call("GET", "/metrics", headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json["error"]["code"] == "unauthorized"
    assert "LOMUZ_METRICS_TOKEN" in answer.json["error"]["message"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"lomuz_" not in answer.content


def test_a_tenant_token_does_not_open_the_metrics(api: Api) -> None:
    admin = api.tenant()
    _, device_token = api.device(admin)
    assert api.call("GET", "/metrics", admin).status_code == 401
    assert api.call("GET", "/metrics", device_token).status_code == 401


def test_without_a_token_set_metrics_are_off_and_say_which_setting(
    api_without_token: Api,
) -> None:
    answer = api_without_token.call("GET", "/metrics", METRICS_TOKEN)
    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "metrics_disabled"
    assert "LOMUZ_METRICS_TOKEN" in answer.json["error"]["message"]
    # The rest of the API does not care.
    assert api_without_token.call("GET", "/healthz").status_code == 200


BASE = {"LOMUZ_DATABASE_URL": "sqlite:///x.db"}


def test_the_token_comes_from_the_file_the_unit_names(tmp_path: Path) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text("0123456789abcdef0123456789abcdef\n")
    env = {**BASE, "LOMUZ_METRICS_TOKEN_FILE": str(token_file)}
    assert load_settings(env).metrics_token == "0123456789abcdef0123456789abcdef"
    # The variable wins over the file.
    assert load_settings({**env, "LOMUZ_METRICS_TOKEN": "z" * 20}).metrics_token == "z" * 20
    # No file yet (a checkout, or before the postinst made it): metrics off, not a crash.
    missing = {**BASE, "LOMUZ_METRICS_TOKEN_FILE": str(tmp_path / "none")}
    assert load_settings(missing).metrics_token is None


@pytest.mark.parametrize("bad", ["short", "has a space in it ok", "\u00e9" * 20])
def test_a_weak_or_odd_token_is_refused_naming_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, "LOMUZ_METRICS_TOKEN": bad})
    assert refused.value.key == "LOMUZ_METRICS_TOKEN"


def test_the_token_never_prints() -> None:
    settings = load_settings({**BASE, "LOMUZ_METRICS_TOKEN": METRICS_TOKEN})
    assert METRICS_TOKEN not in repr(settings)


def test_openapi_documents_the_token_and_its_401() -> None:
    document = build_openapi()
    operation = document["paths"]["/metrics"]["get"]
    assert operation["security"] == [{"metricsToken": []}]
    assert {"200", "401", "403"} <= set(operation["responses"])
    assert document["components"]["securitySchemes"]["metricsToken"]["scheme"] == "bearer"


def test_the_unit_reads_the_token_file_the_postinst_makes() -> None:
    service = parse_unit(UNITS / "lomuz-control.service")["Service"]
    assert "LOMUZ_METRICS_TOKEN_FILE=/etc/lomuz/metrics.token" in service["Environment"]
    postinst = (UNITS.parent / "packaging/control/postinst").read_text()
    assert "TOKEN=/etc/lomuz/metrics.token" in postinst
    assert 'if [ ! -e "$TOKEN" ]' in postinst  # made once, never overwritten
