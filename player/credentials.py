"""The device's credentials file: API URL, device id and token (mode 0600).

Written once by ``lomuz-player enroll`` (atomically: temp file, fsync, rename)
and read by the daemon, ``sync`` and ``doctor``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
    fd, temp_name = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
