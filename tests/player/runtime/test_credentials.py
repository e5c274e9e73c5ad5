"""The credentials file: 0600, atomic, token never printed, bad files named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from player.credentials import Credentials, load_credentials, save_credentials
from player.errors import ConfigError

CREDS = Credentials("http://127.0.0.1:8080/", "dev-1", "s3cret-token")


def test_round_trip_is_private_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "data" / "credentials.json"
    save_credentials(path, CREDS)
    assert load_credentials(path) == CREDS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    save_credentials(path, Credentials("http://other/", "dev-2", "t2"))
    assert load_credentials(path) == Credentials("http://other/", "dev-2", "t2")
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]


def test_the_token_is_never_printed() -> None:
    assert "s3cret" not in repr(CREDS)
    assert "s3cret" not in str(CREDS)


def test_never_enrolled_is_none(tmp_path: Path) -> None:
    assert load_credentials(tmp_path / "missing.json") is None


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"api_url": "x"}'])
def test_an_unreadable_file_names_the_key_and_the_path(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "credentials.json"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match="credentials") as info:
        load_credentials(path)
    assert info.value.key == "credentials"
    assert str(path) in str(info.value)
    assert path.read_bytes() == raw  # nothing rewritten
