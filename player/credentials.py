"""The device's credentials file: API URL, device id and token (mode 0600).

Written once by ``lomuz-player enroll`` (atomically: temp file, fsync, rename)
and read by the daemon, ``sync`` and ``doctor``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from player.adapters.atomic_file import write_file_atomically
from player.errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    api_url: str
    device_id: str
    device_token: str

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(api_url={self.api_url!r}, device_id={self.device_id!r}, token=***)"


def load_credentials(path: Path) -> Credentials | None:
    """The stored credentials, or None when the device was never enrolled."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError("credentials", f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
        return Credentials(
            api_url=str(data["api_url"]),
            device_id=str(data["device_id"]),
            device_token=str(data["device_token"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("credentials", f"{path}: unreadable, enroll again ({exc})") from exc


def save_credentials(path: Path, credentials: Credentials) -> None:
    """Write the credentials file with mode 0600, replacing any previous one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {
            "api_url": credentials.api_url,
            "device_id": credentials.device_id,
            "device_token": credentials.device_token,
        },
        indent=2,
    ).encode()
    write_file_atomically(path, body, mode=0o600)
