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
import subprocess
import sys
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
        self.codes: list[str] = []
        # For each request: was its code on some process's command line meanwhile?
        self.code_in_proc: list[bool] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                api.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = str(json.loads(body or b"{}").get("enrollment_code", ""))
                api.codes.append(code)
                # The client waits for this answer: what other users see now.
                api.code_in_proc.append(bool(code) and code_on_a_command_line(code))
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


def code_on_a_command_line(code: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if code.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue  # the process ended
    return False


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


def run(config: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--config", str(config), *argv],
        environ={},
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin),
    )
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
            environ={
                "LOMUZ_PLAYER_CONFIG": "/nonexistent.toml",
                "LOMUZ_PLAYER_DATA_DIR": "/nonexistent-lomuz",
            },
            stdout=out,
            stderr=err,
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


# -- the code on standard input (issue 10) -------------------------------------------


def enroll_subprocess(
    config: Path, *argv: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_PLAYER_")}
    return subprocess.run(
        [sys.executable, "-m", "player.cli", "--config", str(config), "enroll", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_code_stdin_keeps_the_code_off_every_command_line(
    config: Path, data_dir: Path, api: FakeEnrollApi
) -> None:
    code = "STDIN-" + os.urandom(6).hex()
    done = enroll_subprocess(config, "--api", api.url, "--code-stdin", stdin=code + "\n")
    assert done.returncode == EXIT_OK, done.stderr
    assert api.codes == [code]
    assert api.code_in_proc == [False]
    assert load_credentials(data_dir / "credentials.json") is not None
    # The control: the same probe sees a --code argument.
    argv_code = "ARGV-" + os.urandom(6).hex()
    done = enroll_subprocess(config, "--api", api.url, "--code", argv_code)
    assert done.returncode == EXIT_OK, done.stderr
    assert api.code_in_proc == [False, True]


def test_code_stdin_reads_only_the_first_line_stripped(config: Path, api: FakeEnrollApi) -> None:
    code, _, err = run(
        config, "enroll", "--api", api.url, "--code-stdin", stdin="  ABC-123 \r\nsecond line\n"
    )
    assert (code, err) == (EXIT_OK, "")
    assert api.codes == ["ABC-123"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ((), "", "one of the arguments --code-stdin --code is required"),
        (("--code-stdin", "--code", "X"), "Y\n", "not allowed with argument"),
        (("--code-stdin",), "", "standard input has no code"),
        (("--code-stdin",), "\n\n", "standard input has no code"),
        (("--code-stdin",), "x" * 5000, "longer than 1024 characters"),
    ],
)
def test_exactly_one_code_source_is_a_usage_error_otherwise(
    config: Path,
    data_dir: Path,
    api: FakeEnrollApi,
    args: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    code, _, err = run(config, "enroll", "--api", api.url, *args, stdin=stdin)
    assert code == EXIT_USAGE
    assert message in err.splitlines()[0]
    assert api.paths == []
    assert list(data_dir.iterdir()) == []


def test_the_help_says_code_is_visible_to_other_users(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(config, "enroll", "--help")
    assert code == EXIT_OK
    out = capsys.readouterr().out  # argparse prints --help to sys.stdout
    assert "--code-stdin" in out
    assert "visible to other users" in " ".join(out.split())


# -- https off loopback (issue 10) ----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://control.lan", "http://10.0.0.5:8080", "http://[fe80::1]:8080", "http://0.0.0.0:8080"],
)
def test_plain_http_off_loopback_is_refused_naming_the_opt_in(
    config: Path, data_dir: Path, url: str
) -> None:
    code, _, err = run(config, "enroll", "--api", url, "--code", "ABC")
    assert code == EXIT_USAGE
    first = err.splitlines()[0]
    assert first.startswith("enroll: --api: must use https://")
    assert "[api] allow_insecure_http = true" in first and repr(url) in first
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_loopback_enrolls(
    config: Path, data_dir: Path, api: FakeEnrollApi, host: str
) -> None:
    url = api.url.replace("127.0.0.1", host)
    code, _, err = run(config, "enroll", "--api", url, "--code-stdin", stdin="ABC\n")
    assert (code, err) == (EXIT_OK, "")


def test_the_opt_in_allows_plain_http_off_loopback(
    tmp_path: Path, data_dir: Path, api: FakeEnrollApi
) -> None:
    # 0.0.0.0 is not loopback by the rule, yet Linux connects it to this host.
    url = api.url.replace("127.0.0.1", "0.0.0.0")
    config = tmp_path / "insecure.toml"
    config.write_text(f'data_dir = "{data_dir}"\n[api]\nallow_insecure_http = true\n')
    code, _, err = run(config, "enroll", "--api", url, "--code-stdin", stdin="ABC\n")
    assert (code, err) == (EXIT_OK, "")
    creds = load_credentials(data_dir / "credentials.json")
    assert creds is not None and creds.api_url == url


def test_the_code_goes_to_the_api_as_the_technician_typed_it(
    config: Path, api: FakeEnrollApi
) -> None:
    # The API normalises (case, dashes, spaces, O/I/L): the player must not second-guess it.
    typed = "k7qm 3xd9-pb2h w4tn"
    assert run(config, "enroll", "--api", api.url, "--code", typed)[0] == EXIT_OK
    assert (
        run(config, "enroll", "--api", api.url, "--code-stdin", stdin=f" {typed}\n")[0] == EXIT_OK
    )
    assert api.codes == [typed, typed]
