"""The Lomuz edge demo: director, control API and one shop player on this machine.

Starts `lomuz-control serve` on SQLite, creates a tenant, uploads generated
tones, builds a playlist, flags an emergency asset, schedules the playlist to a
device, enrolls a player, runs `lomuz-player run` for a while (its log shows each
item as it plays), then stops it and prints the proof of play the API received.

Run it through `bash scripts/demo` (which prepares the venv first).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tone_wav(frequency_hz: float, duration_s: float, sample_rate: int = 22_050) -> bytes:
    """A short sine tone with soft edges, as WAV bytes."""
    frames = int(duration_s * sample_rate)
    fade = int(0.02 * sample_rate)
    samples = bytearray()
    for n in range(frames):
        envelope = min(1.0, n / fade, (frames - n) / fade)
        value = 0.4 * envelope * math.sin(2 * math.pi * frequency_hz * n / sample_rate)
        samples += struct.pack("<h", int(value * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(bytes(samples))
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def relay(stream: IO[bytes], prefix: str) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{prefix} | {line.decode(errors='replace').rstrip()}\n")
        sys.stdout.flush()


def start(cmd: list[str], env: dict[str, str], prefix: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    threading.Thread(target=relay, args=(proc.stdout, prefix), daemon=True).start()
    return proc


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: the API exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("demo: the API did not become healthy in time")


def say(text: str) -> None:
    print(f"demo | {text}", flush=True)


def watch_now_playing(lomuz_player: list[str], duration_s: float, titles: dict[str, str]) -> None:
    """Print each item as the running player starts it (asked through `status --json`)."""
    deadline = time.monotonic() + duration_s
    shown = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        reply = subprocess.run(
            [*lomuz_player, "status", "--json"], check=False, capture_output=True
        )
        if reply.returncode != 0:
            continue
        playing = (json.loads(reply.stdout).get("daemon") or {}).get("now_playing") or {}
        key = (playing.get("started_at"), playing.get("asset_id"))
        if playing.get("state") == "playing" and key != shown:
            shown = key
            title = titles.get(playing.get("asset_id") or "", playing.get("asset_id") or "")
            say(f"now playing [{playing.get('tier')}] {title or 'built-in jingle'}")


def choose_backend(requested: str) -> str:
    """``auto``: libvlc when it loads and a test play reaches a sound device, else null."""
    if requested != "auto":
        return requested
    from player.adapters.vlc_output import DEFAULT_ARGS, probe_audio_output
    from player.runtime.playback import default_jingle_path

    try:
        problem = probe_audio_output(DEFAULT_ARGS, default_jingle_path())
    except (ImportError, OSError, NameError, AttributeError) as exc:
        problem = f"libvlc cannot be loaded ({exc}); install libvlc5 and vlc-plugin-base"
    if problem is None:
        say("playing through libvlc: you should hear the tones")
        return "vlc"
    say(f"playing silently (null backend): {problem}")
    return "null"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=40.0, help="how long the player runs")
    parser.add_argument(
        "--backend",
        choices=["auto", "null", "vlc"],
        default="auto",
        help="auto (default): libvlc when a sound device answers, else null, saying why",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "demo-data")
    args = parser.parse_args()
    args.backend = choose_backend(args.backend)

    data_dir: Path = args.data_dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    (data_dir / "api").mkdir(parents=True)
    (data_dir / "player").mkdir(parents=True)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_env = {
        **os.environ,
        "LOMUZ_DATABASE_URL": f"sqlite:///{data_dir / 'api' / 'lomuz.db'}",
        "LOMUZ_MEDIA_DIR": str(data_dir / "api" / "media"),
    }
    control = str(BIN / "lomuz-control")
    subprocess.run([control, "db", "upgrade"], env=api_env, check=True)
    tenant = json.loads(
        subprocess.run(
            [control, "tenant", "create", "Demo shops", "--json"],
            env=api_env,
            check=True,
            capture_output=True,
        ).stdout
    )
    say(f"tenant {tenant['tenant_id']} created")
    panel_email, panel_password = "director@demo.test", secrets.token_urlsafe(12)
    add_director = [control, "user", "add", panel_email, "--tenant", tenant["tenant_id"]]
    subprocess.run(
        [*add_director, "--role", "admin", "--password-stdin"],
        env=api_env,
        input=panel_password.encode(),
        check=True,
        capture_output=True,
    )
    say(f"web panel: {base_url}/  (sign in as {panel_email}, password {panel_password})")
    api = start([control, "serve", "--host", "127.0.0.1", "--port", str(port)], api_env, "api   ")
    player: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(base_url, api)
        director = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {tenant['admin_token']}"},
            timeout=10,
        )
        tones = [("Opening chime", 440.0), ("Aisle melody", 523.25), ("Checkout tune", 659.25)]
        asset_ids = []
        for title, frequency_hz in tones:
            response = director.post(
                "/v1/assets",
                params={"filename": f"{title}.wav", "title": title},
                content=tone_wav(frequency_hz, 4.0),
                headers={"Content-Type": "audio/wav"},
            )
            response.raise_for_status()
            asset_ids.append(response.json()["id"])
            say(f"uploaded {title!r} as {asset_ids[-1]}")
        emergency = director.post(
            "/v1/assets",
            params={
                "filename": "emergency.wav",
                "title": "Store announcement",
                "emergency": "true",
            },
            content=tone_wav(330.0, 3.0),
            headers={"Content-Type": "audio/wav"},
        )
        emergency.raise_for_status()
        say(f"uploaded emergency asset {emergency.json()['id']}")
        playlist = director.post(
            "/v1/playlists",
            json={
                "name": "Demo day",
                "items": [{"asset_id": a, "duration_ms": 4000} for a in asset_ids],
            },
        )
        playlist.raise_for_status()
        device = director.post("/v1/devices", json={"name": "Demo shop", "timezone": "UTC"})
        device.raise_for_status()
        schedule = director.post(
            "/v1/schedules",
            json={
                "playlist_id": playlist.json()["id"],
                "target": {"device_id": device.json()["id"]},
            },
        )
        schedule.raise_for_status()
        say(f"playlist {playlist.json()['id']} scheduled all day to device {device.json()['id']}")

        config_path = data_dir / "player.toml"
        config_path.write_text(
            f'data_dir = "{data_dir / "player"}"\n'
            f'[playback]\nbackend = "{args.backend}"\n'
            "[telemetry]\ninterval_s = 5\n",
            encoding="utf-8",
        )
        lomuz_player = [str(BIN / "lomuz-player"), "--config", str(config_path)]
        subprocess.run(
            [
                *lomuz_player,
                "enroll",
                "--api",
                base_url,
                "--code",
                device.json()["enrollment_code"],
            ],
            check=True,
        )
        say(f"player enrolled; running it for {args.duration_s:.0f} s")
        player = start([*lomuz_player, "run"], dict(os.environ), "player")
        watch_now_playing(
            lomuz_player,
            args.duration_s,
            {a: t for a, (t, _) in zip(asset_ids, tones, strict=True)},
        )
        player.terminate()
        player.wait(timeout=30)
        player = None

        plays = director.get("/v1/plays", params={"device_id": device.json()["id"]}).json()["items"]
        titles = {a: t for a, (t, _) in zip(asset_ids, tones, strict=True)}
        say(f"the API holds {len(plays)} plays from the shop:")
        for play in plays:
            title = titles.get(play["asset_id"], play["asset_id"])
            say(f"  {play['started_at']}  {play['source']:<9} {play['outcome']:<9} {title}")
        if not plays:
            say("no plays reached the API: see the player log above")
            return 1
        return 0
    finally:
        if player is not None:
            player.kill()
            player.wait()
        api.terminate()
        try:
            api.wait(timeout=10)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()


if __name__ == "__main__":
    sys.exit(main())
