"""`lomuz-player enroll` and `sync` through the real entry point against the real API."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from pathlib import Path

from player.cli import main
from tests.player.runtime.realapi import real_api


def tone(frequency_hz: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency_hz * n / 8000)))
                for n in range(4000)
            )
        )
    return out.getvalue()


def run(config: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *argv], environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_enroll_then_foreground_sync_reports_changes_and_downloads(tmp_path: Path) -> None:
    config = tmp_path / "player.toml"
    config.write_text(f'data_dir = "{tmp_path / "player"}"\n[playback]\nbackend = "null"\n')
    with real_api(tmp_path) as api:
        assets = [api.upload(tone(f)) for f in (440.0, 550.0)]
        playlist = api.call(
            "POST",
            "/v1/playlists",
            json={"name": "day", "items": [{"asset_id": a["id"]} for a in assets]},
        )
        device = api.call("POST", "/v1/devices", json={"name": "box"})
        api.call(
            "POST",
            "/v1/schedules",
            json={"playlist_id": playlist["id"], "target": {"device_id": device["id"]}},
        )

        code, _, err = run(config, "enroll", "--api", api.url, "--code", "WRONG")
        assert code == 1
        assert "enroll" in err.lower()
        assert not (tmp_path / "player" / "credentials.json").exists()

        code, out, err = run(
            config, "enroll", "--api", api.url, "--code", device["enrollment_code"]
        )
        assert code == 0, err
        credentials = tmp_path / "player" / "credentials.json"
        assert credentials.stat().st_mode & 0o777 == 0o600

        code, out, err = run(config, "sync", "--json")
        assert code == 0, err
        reply = json.loads(out)
        assert reply["via"] == "foreground"
        assert reply["sync"]["changed"] and reply["sync"]["full"]
        assert reply["sync"]["applied"]["assets_upserted"] == 2
        assert sorted(d["sha256"] for d in reply["downloaded"]) == sorted(
            a["sha256"] for a in assets
        )

        code, out, _ = run(config, "sync", "--json")
        assert code == 0
        again = json.loads(out)
        assert again["sync"]["changed"] is False
        assert again["downloaded"] == []

        code, out, _ = run(config, "next", "--json")
        assert json.loads(out)["asset_id"] == assets[0]["id"]


def test_sync_without_enrollment_fails_clearly(tmp_path: Path) -> None:
    config = tmp_path / "player.toml"
    config.write_text(f'data_dir = "{tmp_path / "player"}"\n')
    code, _, err = run(config, "sync")
    assert code == 1
    assert "not enrolled" in err
