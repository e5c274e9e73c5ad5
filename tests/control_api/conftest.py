"""An app per test on a fresh SQLite file, and the same on PostgreSQL when
LOMUZ_TEST_POSTGRES_URL is set (one throwaway schema per test)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest
from sqlalchemy import create_engine, text

from control_api.app import create_app
from control_api.broker_accounts import BrokerAccounts
from control_api.settings import load_settings
from control_api.store import repository as repo
from control_api.store.db import Database
from tests.control_api.openapi_check import CheckedClient

PG_URL = os.environ.get("LOMUZ_TEST_POSTGRES_URL", "")
METRICS_TOKEN = "metrics-token-for-tests"
BACKENDS = (
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)] if PG_URL else ["sqlite"]
)


@dataclass
class Api:
    """A test client plus helpers that speak the protocol."""

    client: falcon.testing.TestClient
    app: falcon.App[falcon.Request, falcon.Response]
    db: Database

    def tenant(self, name: str = "shop") -> str:
        with self.db.write() as s:
            _, token = repo.create_tenant(s, name, datetime.now(UTC))
        return token

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.simulate_request(method, path, headers=headers, **kw)

    def upload(
        self, token: str, data: bytes, content_type: str = "audio/wav", **params: str
    ) -> Any:
        return self.call(
            "POST",
            "/v1/assets",
            token,
            body=data,
            params=params,
            headers={"Content-Type": content_type},
        )

    def device(self, token: str, name: str = "box", **fields: Any) -> tuple[str, str]:
        """Create and enroll a device; returns (device_id, device_token)."""
        created = self.call("POST", "/v1/devices", token, json={"name": name, **fields})
        assert created.status_code == 201, created.text
        enrolled = self.call(
            "POST", "/v1/enroll", json={"enrollment_code": created.json["enrollment_code"]}
        )
        assert enrolled.status_code == 201, enrolled.text
        return enrolled.json["device_id"], enrolled.json["device_token"]


def _pg_schema_url() -> Iterator[str]:
    schema = f"t_{secrets.token_hex(6)}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'control.db'}"
    else:
        yield from _pg_schema_url()


@pytest.fixture
def settings_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "LOMUZ_DATABASE_URL": database_url,
        "LOMUZ_MEDIA_DIR": str(tmp_path / "media"),
        "LOMUZ_TOKEN_CACHE_S": "0",
        "LOMUZ_LAST_SEEN_WRITE_S": "0",
        "LOMUZ_MAX_JSON_BYTES": "4096",
        "LOMUZ_MAX_UPLOAD_BYTES": "100000",
        "LOMUZ_METRICS_TOKEN": METRICS_TOKEN,
        # ffmpeg in every test would cost CPU and bump revisions behind their back;
        # tests/control_api/media/test_measuring.py turns it on.
        "LOMUZ_MEASURE_LOUDNESS": "0",
    }


@pytest.fixture
def api(settings_env: dict[str, str]) -> Iterator[Api]:
    yield from make_api(settings_env)


def make_api(
    env: dict[str, str], *, broker_accounts: BrokerAccounts | None = None, **overrides: Any
) -> Iterator[Api]:
    settings = replace(load_settings(env), **overrides)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    app = create_app(settings, broker_accounts=broker_accounts)
    try:
        yield Api(CheckedClient(app), app, app.deps.db)
    finally:
        app.close()


CLI = [sys.executable, "-m", "control_api.cli"]


def cli_env(settings_env: dict[str, str]) -> dict[str, str]:
    # LOMUZ_CONTROL_ENV empty: an installed /etc/lomuz/control.env stays out of it.
    return {**os.environ, **settings_env, "LOMUZ_CONTROL_ENV": ""}


@pytest.fixture
def server(settings_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``lomuz-control serve`` on a loopback port: (base URL, admin token)."""
    env = cli_env(settings_env)
    created = subprocess.run(
        [*CLI, "tenant", "create", "Shop", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    admin = json.loads(created.stdout)["admin_token"]
    proc = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    drain = threading.Thread(target=lambda: None)
    try:
        base = ""
        for line in proc.stderr:
            found = re.search(r"serving on (http://\S+)", line)
            if found:
                base = found.group(1)
                break
        assert base, "server did not start"
        drain = threading.Thread(target=proc.stderr.read, daemon=True)
        drain.start()
        yield base, admin
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        if drain.is_alive():
            drain.join(timeout=5)
        proc.stderr.close()
    assert code == 0
