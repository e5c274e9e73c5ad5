"""Builds offline bundles (manifest.json + media/<sha256>) of tiny generated WAV files."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def tiny_wav(frequency_hz: int, duration_ms: int = 200, rate_hz: int = 8000) -> bytes:
    """A mono 16-bit square wave; different frequencies give different bytes."""
    frames = rate_hz * duration_ms // 1000
    period = max(2, rate_hz // frequency_hz)
    samples = b"".join(
        struct.pack("<h", 8000 if (i % period) < period // 2 else -8000) for i in range(frames)
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(samples)
    return buf.getvalue()


@dataclass(frozen=True)
class BundleAsset:
    id: str
    data: bytes
    emergency: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def manifest_for(
    assets: list[BundleAsset], playlist: list[str], *, cursor: str = "bundle-1"
) -> dict[str, Any]:
    """A full manifest: one all-week, all-day schedule playing ``playlist`` (asset ids)."""
    return {
        "schema": 1,
        "cursor": cursor,
        "full": True,
        "server_time": "2026-12-01T09:00:00Z",
        "sync_interval_s": 600,
        "device": {"id": "dev-1", "name": "Shop 1", "timezone": "Europe/Paris", "groups": []},
        "assets": [
            {
                "id": a.id,
                "sha256": a.sha256,
                "size": len(a.data),
                "media_type": "audio",
                "content_type": "audio/wav",
                "title": a.id,
                "duration_ms": 200,
                "valid_from": None,
                "valid_until": None,
                "emergency": a.emergency,
                "url": f"/v1/media/{a.sha256}",
            }
            for a in assets
        ],
        "playlists": [
            {
                "id": "pl-1",
                "name": "All day",
                "items": [{"asset_id": aid, "duration_ms": None} for aid in playlist],
                "version": 1,
            }
        ],
        "schedules": [
            {
                "id": "sch-1",
                "playlist_id": "pl-1",
                "target": "all",
                "priority": 0,
                "days": [1, 2, 3, 4, 5, 6, 7],
                "start_time": "00:00",
                "end_time": "24:00",
                "valid_from": None,
                "valid_until": None,
                "created_at": "2026-11-01T00:00:00Z",
                "version": 1,
            }
        ],
        "deleted": {"assets": [], "playlists": [], "schedules": []},
    }


def write_bundle(bundle_dir: Path, assets: list[BundleAsset], manifest: dict[str, Any]) -> Path:
    (bundle_dir / "media").mkdir(parents=True, exist_ok=True)
    for a in assets:
        (bundle_dir / "media" / a.sha256).write_bytes(a.data)
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle_dir


def standard_assets() -> list[BundleAsset]:
    return [
        BundleAsset("ast-a", tiny_wav(440)),
        BundleAsset("ast-b", tiny_wav(660)),
        BundleAsset("ast-sos", tiny_wav(880), emergency=True),
    ]
