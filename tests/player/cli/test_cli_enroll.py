"""``lomuz-player enroll`` against a real HTTP server on loopback.

Field findings: run as root it left root-only credentials (the daemon, user
lomuz, then exited 78); ``--api URL/api`` said "enrollment code refused: HTTP
404", blaming the code for a wrong URL; a malformed URL crashed with an
internal error; network errors did not say which URL was tried.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from player.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from player.credentials import load_credentials, owner_for
from tests.netutil import free_port

NOBODY = 65534


class FakeEnrollApi:
    """Answers ``POST <prefix>/v1/enroll``; everything else is a 404, like a real router."""

    def __init__(self, status: int = 201, prefix: str = "") -> None:
        self.status = status
        self.prefix = prefix
        self.paths: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                api.paths.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != f"{api.prefix}/v1/enroll":
                    self._reply(404, {"error": {"code": "not_found", "message": "no route"}})
                elif api.status in (200, 201):
                    token = "tok-" + "x" * 20
                    self._reply(api.status, {"device_id": "dev-9", "device_token": token})
                else:
                    self._reply(api.status, {"error": {"code": "bad_code", "message": "unknown"}})

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeEnrollApi:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[FakeEnrollApi]:
    with FakeEnrollApi() as fake:
        yield fake


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def config(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(f'data_dir = "{data_dir}"\n[playback]\nbackend = "null"\n')
    return path


def run(config: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_enroll_writes_0600_credentials_and_no_temp_file(
    config: Path, data_dir: Path, api: FakeEnrollApi
) -> None:
    code, out, err = run(config, "enroll", "--api", api.url + "/", "--code", "ABC-123")
    assert (code, err) == (EXIT_OK, "")
    assert "dev-9" in out
    path = data_dir / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    creds = load_credentials(path)
    assert creds is not None and creds.api_url == api.url
    assert [p.name for p in data_dir.iterdir()] == ["credentials.json"]


def test_a_404_from_the_enroll_endpoint_blames_the_url_not_the_code(
    config: Path, data_dir: Path, api: FakeEnrollApi
) -> None:
    wrong = api.url + "/api"
    code, _, err = run(config, "enroll", "--api", wrong, "--code", "ABC-123")
    assert code == EXIT_FAILURE
    assert err == (
        f"lomuz-player: no Lomuz API at {wrong}: POST {wrong}/v1/enroll answered 404"
        " — check --api\n"
    )
    assert api.paths == ["/api/v1/enroll"]
    assert not (data_dir / "credentials.json").exists()


def test_a_401_is_the_code() -> None:
    with FakeEnrollApi(status=401) as api:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["enroll", "--api", api.url, "--code", "WRONG"],
            environ={"LOMUZ_PLAYER_CONFIG": "/nonexistent.toml",
                     "LOMUZ_PLAYER_DATA_DIR": "/nonexistent-lomuz"},
            stdout=out, stderr=err,
        )
    assert code == EXIT_FAILURE
    assert "enrollment code refused: HTTP 401 bad_code: unknown" in err.getvalue()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://exa mple", "contains a space"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("https://host:99999", "Port out of range"),
        ("ftp://host", "http:// or https://"),
    ],
)
def test_a_malformed_api_url_is_a_usage_error_naming_it(
    config: Path, data_dir: Path, url: str, reason: str
) -> None:
    code, _, err = run(config, "enroll", "--api", url, "--code", "ABC")
    assert code == EXIT_USAGE
    first = err.splitlines()[0]
    assert first.startswith("enroll: --api: ")
    assert reason in first and repr(url) in first
    assert "internal error" not in err
    assert list(data_dir.iterdir()) == []


def test_a_network_error_names_the_url_it_tried(config: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(config, "enroll", "--api", url, "--code", "ABC")
    assert code == EXIT_FAILURE
    assert f"POST {url}/v1/enroll: ConnectError: " in err


def test_only_root_writes_as_someone_else(tmp_path: Path) -> None:
    assert owner_for(tmp_path, euid=1000) is None
    assert owner_for(tmp_path / "missing", euid=0) is None
    if tmp_path.stat().st_uid == 0:
        assert owner_for(tmp_path, euid=0) is None  # root's own directory: as is
    else:
        assert owner_for(tmp_path, euid=0) == (tmp_path.stat().st_uid, tmp_path.stat().st_gid)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_root_enrolls_as_the_data_directory_owner(
    config: Path, data_dir: Path, api: FakeEnrollApi
) -> None:
    # What the package sets up: the state directory belongs to the service user.
    os.chown(data_dir, NOBODY, NOBODY)
    code, out, err = run(config, "enroll", "--api", api.url, "--code", "ABC-123")
    assert (code, err) == (EXIT_OK, "")
    st = (data_dir / "credentials.json").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, 0o600)
    assert f"uid {NOBODY}" in out
    assert [p.name for p in data_dir.iterdir()] == ["credentials.json"]
