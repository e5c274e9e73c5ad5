"""Real processes for the player robustness suites (CI tests and scripts/soak).

``ApiServer`` runs ``lomuz-control serve`` on SQLite on a free loopback port,
``Director`` drives it over HTTP (tenant, assets, playlist, device, schedule),
``PlayerProcess`` runs ``lomuz-player run`` with its own data_dir and config,
and the ``check_*`` helpers state the rules the suites enforce. Everything is
bounded: every wait has a deadline, every process is killed on exit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from player.runtime.control import ask_daemon
from tests.netutil import free_port

BIN = Path(sys.executable).parent
CONTROL = BIN / "lomuz-control"
PLAYER = BIN / "lomuz-player"
SHA256_HEX_LEN = 64


def noise_wav(duration_s: float, seed: int, sample_rate: int = 44_100, channels: int = 2) -> bytes:
    """A valid WAV of quiet noise: large (176 kB/s), unique per seed, fast to make."""
    frames = int(duration_s * sample_rate)
    data = bytearray(random.Random(seed).randbytes(frames * channels * 2))
    for i in range(1, len(data), 2):  # keep the high byte small: quiet samples
        data[i] &= 0x03
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(bytes(data))
    return out.getvalue()


class ApiServer:
    """``lomuz-control serve`` on SQLite under ``root``; ``close()`` stops it."""

    def __init__(self, root: Path, *, timeout_s: float = 30.0) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "LOMUZ_DATABASE_URL": f"sqlite:///{root / 'control.sqlite'}",
            "LOMUZ_MEDIA_DIR": str(root / "media"),
            "LOMUZ_MEASURE_LOUDNESS": "0",  # no ffmpeg behind the tests' back
        }
        subprocess.run(
            [str(CONTROL), "db", "upgrade"], env=self.env, check=True, capture_output=True, cwd=root
        )
        self.tenant: dict[str, str] = json.loads(
            subprocess.run(
                [str(CONTROL), "tenant", "create", "Robustness", "--json"],
                env=self.env,
                check=True,
                capture_output=True,
                cwd=root,
            ).stdout
        )
        self._log = (root / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(CONTROL), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(
                    "control API did not come up:\n"
                    + (root / "server.log").read_text(errors="replace")
                )
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Director:
    """The director's side over HTTP: one playlist scheduled all day to one device."""

    def __init__(self, api: ApiServer) -> None:
        self.http = httpx.Client(
            base_url=api.url,
            timeout=30.0,
            headers={"Authorization": f"Bearer {api.tenant['admin_token']}"},
        )
        self.asset_ids: list[str] = []
        self.sha256s: dict[str, str] = {}  # asset id -> true sha256
        self.playlist_id = ""
        self.device_id = ""
        self.item_ms = 2000

    def close(self) -> None:
        self.http.close()

    def upload(self, body: bytes, name: str, **params: str) -> str:
        response = self.http.post(
            "/v1/assets",
            params={"filename": f"{name}.wav", "title": name, **params},
            content=body,
            headers={"Content-Type": "audio/wav"},
        )
        response.raise_for_status()
        asset = response.json()
        assert asset["sha256"] == hashlib.sha256(body).hexdigest()
        self.sha256s[asset["id"]] = asset["sha256"]
        return str(asset["id"])

    def setup(self, bodies: list[bytes], *, item_ms: int = 2000) -> str:
        """Upload, build the playlist, create the device and schedule; returns a code."""
        self.item_ms = item_ms
        self.asset_ids = [self.upload(b, f"item-{i}") for i, b in enumerate(bodies)]
        playlist = self.http.post(
            "/v1/playlists",
            json={
                "name": "Robustness",
                "items": [{"asset_id": a, "duration_ms": item_ms} for a in self.asset_ids],
            },
        )
        playlist.raise_for_status()
        self.playlist_id = playlist.json()["id"]
        device = self.http.post("/v1/devices", json={"name": "Shop", "timezone": "UTC"})
        device.raise_for_status()
        self.device_id = device.json()["id"]
        schedule = self.http.post(
            "/v1/schedules",
            json={"playlist_id": self.playlist_id, "target": {"device_id": self.device_id}},
        )
        schedule.raise_for_status()
        return str(device.json()["enrollment_code"])

    def new_code(self) -> str:
        response = self.http.post(f"/v1/devices/{self.device_id}/enrollment-code")
        response.raise_for_status()
        return str(response.json()["enrollment_code"])

    def add_item(self, body: bytes, name: str) -> str:
        """Upload a new asset and append it to the playlist (optimistic concurrency)."""
        asset_id = self.upload(body, name)
        self.asset_ids.append(asset_id)
        current = self.http.get(f"/v1/playlists/{self.playlist_id}")
        current.raise_for_status()
        doc = current.json()
        response = self.http.put(
            f"/v1/playlists/{self.playlist_id}",
            json={
                "name": doc["name"],
                "items": [{"asset_id": a, "duration_ms": self.item_ms} for a in self.asset_ids],
            },
            headers={"If-Match": current.headers.get("ETag") or f'"{doc["version"]}"'},
        )
        response.raise_for_status()
        return asset_id

    def server_plays(self) -> list[dict[str, Any]]:
        """Every play the API holds for the device (all pages)."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"device_id": self.device_id, "limit": 100}
            if after:
                params["after"] = after
            response = self.http.get("/v1/plays", params=params)
            response.raise_for_status()
            page = response.json()
            items.extend(page["items"])
            after = page["next"]
            if not after:
                return items


@dataclass
class PlayerProcess:
    """One shop player: its data_dir, config and (when running) its process."""

    root: Path
    telemetry_interval_s: int = 5
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_paths: list[Path] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "data"
        self.config = self.root / "player.toml"
        self.config.write_text(
            f'data_dir = "{self.data_dir}"\n'
            '[playback]\nbackend = "null"\n'
            f"[telemetry]\ninterval_s = {self.telemetry_interval_s}\n"
            "[sync]\njitter_s = 0\n"
            "[downloads]\nmin_free_bytes = 0\n" + self.extra_config,
            encoding="utf-8",
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_")}

    @property
    def db_path(self) -> Path:
        return self.data_dir / "player.db"

    def cli(self, *args: str, check: bool = True, timeout_s: float = 60) -> str:
        done = subprocess.run(
            [str(PLAYER), "--config", str(self.config), *args],
            env=self.env,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"lomuz-player {' '.join(args)} exited {done.returncode}:\n"
                + done.stderr.decode(errors="replace")
            )
        return done.stdout.decode()

    def enroll(self, api_url: str, code: str) -> None:
        self.cli("enroll", "--api", api_url, "--code", code)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        log_path = self.root / f"run-{len(self.log_paths):04d}.log"
        self.log_paths.append(log_path)
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(PLAYER), "--config", str(self.config), "run"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _reap(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: the power cut as the process sees it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._reap()

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait (pending plays get one upload attempt)."""
        code = 0
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        elif self.proc is not None:
            code = self.proc.returncode
        self._reap()
        return code

    def status(self, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """The running daemon's live status, None when it does not answer."""
        try:
            return ask_daemon(self.data_dir / "control.sock", "status", timeout_s=timeout_s)
        except (OSError, ValueError, RuntimeError):
            return None

    def wait_playing(self, timeout_s: float, *, asset: bool = False) -> float:
        """Seconds until now_playing.state is "playing" (an asset, if asked)."""
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"player exited with {self.proc.returncode}: "
                    + self.log_paths[-1].read_text(errors="replace")[-3000:]
                )
            live = self.status()
            playing = (live or {}).get("now_playing") or {}
            if playing.get("state") == "playing" and (not asset or playing.get("asset_id")):
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"not playing within {timeout_s} s")

    def local_plays(self) -> list[dict[str, Any]]:
        plays: list[dict[str, Any]] = json.loads(self.cli("plays", "--json"))
        return plays

    def log_lines(self) -> int:
        return sum(len(p.read_bytes().splitlines()) for p in self.log_paths if p.exists())

    def close(self) -> None:
        with suppress(Exception):
            self.kill()


@contextmanager
def running_api(root: Path) -> Iterator[ApiServer]:
    api = ApiServer(root)
    try:
        yield api
    finally:
        api.close()


# --- the rules -----------------------------------------------------------------------


def integrity_check(db_path: Path) -> str:
    """``PRAGMA integrity_check`` on a read-only connection (changes nothing)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(r[0]) for r in rows)


def bad_cache_files(media_dir: Path) -> list[str]:
    """Committed cache files whose content does not hash to their name."""
    bad: list[str] = []
    root = media_dir / "sha256"
    if not root.is_dir():
        return bad
    for path in sorted(root.glob("*/*")):
        if len(path.name) != SHA256_HEX_LEN:
            bad.append(f"unexpected file {path}")
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != path.name:
            bad.append(str(path))
    return bad


def check_delivery(local: list[dict[str, Any]], server: list[dict[str, Any]]) -> list[str]:
    """Every local play on the server exactly once; returns the problems found."""
    problems: list[str] = []
    server_ids = [p["id"] for p in server]
    seen: set[str] = set()
    for play_id in server_ids:
        if play_id in seen:
            problems.append(f"play {play_id} is listed twice by the API")
        seen.add(play_id)
    missing = [p["id"] for p in local if p["id"] not in seen]
    if missing:
        problems.append(f"{len(missing)} local plays never reached the API: {missing[:5]}")
    return problems
