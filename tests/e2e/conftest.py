"""Fixtures for the end-to-end suite: real `lomuz-control serve` and `lomuz-player run` processes.

Everything runs on loopback: the API on SQLite under ``tmp_path`` (a port
picked by the server itself, reused on restart), a director httpx client, and
players with the ``null`` backend. Process output goes to log files under
``tmp_path`` whose tails are attached to failure messages. Every wait is
bounded; teardown kills whatever is still running.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

BIN = Path(sys.executable).parent
SAMPLE_RATE = 8000
T = TypeVar("T")


# --- media -----------------------------------------------------------------


def wav_bytes(seed: int, duration_ms: int = 1200) -> bytes:
    """A mono 16-bit WAV of noise, distinct per ``seed`` (so a distinct sha256)."""
    frames = SAMPLE_RATE * duration_ms // 1000
    out = BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(random.Random(seed).randbytes(frames * 2))
    return out.getvalue()


def big_wav_bytes(size_bytes: int) -> bytes:
    """A WAV about ``size_bytes`` long (random samples): slow enough to kill mid-download."""
    out = BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(os.urandom(size_bytes // 2 * 2))
    return out.getvalue()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def instant(at: datetime) -> str:
    """RFC 3339 UTC with second resolution, as the API stores instants."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_seconds_from_now(seconds: int) -> datetime:
    """A whole-second instant at least ``seconds`` ahead."""
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    return now + timedelta(seconds=seconds)


# --- waiting -----------------------------------------------------------------


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} missing)"
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.3,
    logs: tuple[Path, ...] = (),
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            details = "\n".join(f"--- {p.name} ---\n{tail(p)}" for p in logs)
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n{details}")
        time.sleep(interval_s)


def _stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _kill_process(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


# --- the control API ---------------------------------------------------------


class ApiServer:
    """A `lomuz-control serve` process on SQLite in ``root``; restartable on the same port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")},
            "LOMUZ_DATABASE_URL": f"sqlite:///{root / 'control.db'}",
            "LOMUZ_MEDIA_DIR": str(root / "media"),
            "LOMUZ_MEASURE_LOUDNESS": "0",  # no ffmpeg behind the tests' back
            "LOMUZ_SYNC_INTERVAL_S": "10",  # the API's minimum
            "LOMUZ_TELEMETRY_INTERVAL_S": "5",
        }
        self.log_path = root / "api.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(BIN / "lomuz-control"), *args],
            env=self.env,
            capture_output=True,
            timeout=60,
            check=False,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        assert self.proc is None, "already running"
        self._starts += 1
        marker = f"=== start {self._starts} ===\n"
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(marker)
            log.flush()
            self.proc = subprocess.Popen(
                [
                    str(BIN / "lomuz-control"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def served_port() -> int | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"the API exited with {self.proc.returncode}\n{tail(self.log_path)}")
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", text.split(marker)[-1])
            return int(found.group(1)) if found else None

        port = wait_for(
            served_port,
            timeout_s=timeout_s,
            what="the API to listen",
            interval_s=0.1,
            logs=(self.log_path,),
        )
        assert self.port in (0, port)
        self.port = port

        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            return False

        wait_for(
            healthy, timeout_s=timeout_s, what="GET /healthz", interval_s=0.1, logs=(self.log_path,)
        )

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)
            self.proc = None

    def create_tenant(self, name: str) -> dict[str, str]:
        done = self.control("tenant", "create", name, "--json")
        assert done.returncode == 0, done.stderr.decode()
        tenant: dict[str, str] = json.loads(done.stdout)
        return tenant


class Director:
    """The director's view: an httpx client with the tenant's admin token, plus helpers."""

    def __init__(self, api: ApiServer, tenant: dict[str, str]) -> None:
        self.api = api
        self.tenant = tenant
        self.http = httpx.Client(
            base_url=api.url,
            headers={"Authorization": f"Bearer {tenant['admin_token']}"},
            timeout=30,
        )

    def close(self) -> None:
        self.http.close()

    def _ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code in (200, 201), (
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text}"
        )
        body: dict[str, Any] = response.json()
        return body

    def upload(
        self,
        title: str,
        content: bytes,
        *,
        emergency: bool = False,
        valid_until: datetime | None = None,
    ) -> dict[str, Any]:
        params = {"filename": f"{title}.wav", "title": title}
        if emergency:
            params["emergency"] = "true"
        if valid_until is not None:
            params["valid_until"] = instant(valid_until)
        return self._ok(
            self.http.post(
                "/v1/assets", params=params, content=content, headers={"Content-Type": "audio/wav"}
            )
        )

    def playlist(self, name: str, asset_ids: list[str], duration_ms: int = 1000) -> dict[str, Any]:
        items = [{"asset_id": a, "duration_ms": duration_ms} for a in asset_ids]
        return self._ok(self.http.post("/v1/playlists", json={"name": name, "items": items}))

    def device(self, name: str) -> dict[str, Any]:
        return self._ok(self.http.post("/v1/devices", json={"name": name, "timezone": "UTC"}))

    def schedule(
        self,
        playlist_id: str,
        device_id: str,
        *,
        priority: int = 0,
        valid_until: datetime | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "playlist_id": playlist_id,
            "target": {"device_id": device_id},
            "priority": priority,
        }
        if valid_until is not None:
            body["valid_until"] = instant(valid_until)
        return self._ok(self.http.post("/v1/schedules", json=body))

    def plays(self, device_id: str) -> list[dict[str, Any]]:
        """Every play the API holds for the device (all pages)."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"device_id": device_id, "limit": "500"}
            if after:
                params["after"] = after
            page = self._ok(self.http.get("/v1/plays", params=params))
            items.extend(page["items"])
            after = page["next"]
            if not after:
                return items


# --- the player -----------------------------------------------------------------


class PlayerProcess:
    """A player data dir with its config, the CLI, and a `run` daemon to start/stop/kill."""

    def __init__(self, root: Path, *, concurrency: int = 2) -> None:
        self.root = root
        self.data_dir = root / "data"
        root.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "player.toml"
        self.config_path.write_text(
            f'data_dir = "{self.data_dir}"\n'
            '[playback]\nbackend = "null"\nfallback = "jingle"\n'
            "[telemetry]\ninterval_s = 5\n"  # the settings' minimum
            "[sync]\ninterval_s = 10\njitter_s = 0\n"
            f"[downloads]\nconcurrency = {concurrency}\n",
            encoding="utf-8",
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")}
        self.log_path = root / "player.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._runs = 0

    def cli(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(BIN / "lomuz-player"), "--config", str(self.config_path), *args],
            env=self.env,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )

    def cli_json(self, *args: str, timeout_s: float = 120.0) -> Any:
        done = self.cli(*args, "--json", timeout_s=timeout_s)
        assert done.returncode in (0, 1), (args, done.returncode, done.stderr.decode())
        assert done.stdout.strip(), (args, done.returncode, done.stderr.decode())
        return json.loads(done.stdout)

    def enroll(self, api_url: str, code: str) -> None:
        done = self.cli("enroll", "--api", api_url, "--code", code)
        assert done.returncode == 0, done.stderr.decode()

    def sync(self, download_timeout_s: float = 60.0) -> dict[str, Any]:
        """`lomuz-player sync --json` (through the daemon when it runs)."""
        reply: dict[str, Any] = self.cli_json(
            "sync",
            "--download-timeout-s",
            str(download_timeout_s),
            timeout_s=download_timeout_s + 60,
        )
        return reply

    def plays(self) -> list[dict[str, Any]]:
        """`lomuz-player plays --json`: the local proof of play, oldest first."""
        plays: list[dict[str, Any]] = self.cli_json("plays")
        return plays

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.cli_json("status")
        return status

    def start(self) -> None:
        assert self.proc is None, "already running"
        self._runs += 1
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"=== run {self._runs} ===\n")
            log.flush()
            self.proc = subprocess.Popen(
                [str(BIN / "lomuz-player"), "--config", str(self.config_path), "run"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def answering() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"the player exited with {self.proc.returncode}\n{tail(self.log_path)}")
            # During the first start's migration status says the player is
            # setting its database up (exit 0, "daemon": null): not up yet.
            daemon = self.status().get("daemon")
            return bool(daemon and daemon.get("now_playing") is not None)

        wait_for(
            answering,
            timeout_s=30,
            what="the player daemon to answer status",
            logs=(self.log_path,),
        )

    def stop(self) -> int:
        """SIGTERM, as systemd does; returns the exit code."""
        assert self.proc is not None
        code = _stop_process(self.proc, timeout_s=30)
        self.proc = None
        return code

    def kill(self) -> None:
        """kill -9: no cleanup at all."""
        assert self.proc is not None
        _kill_process(self.proc)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            _kill_process(self.proc)
            self.proc = None


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path / "api")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def director(api: ApiServer) -> Iterator[Director]:
    client = Director(api, api.create_tenant("E2E shops"))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def player_factory(tmp_path: Path) -> Iterator[Callable[..., PlayerProcess]]:
    made: list[PlayerProcess] = []

    def make(name: str = "p", **kwargs: Any) -> PlayerProcess:
        # Short paths: the control socket lives in data_dir (AF_UNIX paths are short).
        player = PlayerProcess(tmp_path / name, **kwargs)
        made.append(player)
        return player

    try:
        yield make
    finally:
        for player in made:
            player.close()


@pytest.fixture
def player(player_factory: Callable[..., PlayerProcess]) -> PlayerProcess:
    return player_factory()
