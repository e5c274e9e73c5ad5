"""``lomuz-control media gc``: stale temp files and media no asset uses, on real files."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_api.cli import main
from control_api.media import LocalMediaStore
from control_api.settings import ENV_FILE_VARIABLE
from tests.control_api.conftest import Api, make_api
from tests.control_api.media_samples import wav


@pytest.fixture
def env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, ENV_FILE_VARIABLE: ""}


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[Api]:
    yield from make_api(env)


def gc(env: dict[str, str], capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["media", "gc", *args], environ=env) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else {"text": out}


def test_gc_removes_stale_temp_files_and_unused_media_only(
    api: Api, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalMediaStore(Path(env["LOMUZ_MEDIA_DIR"]))
    admin = api.tenant()
    kept = wav(b"in use")
    assert api.upload(admin, kept).status_code == 201
    # An unused file, as a crash between an upload's rename and its commit leaves.
    orphan = store.receive(io.BytesIO(b"orphan bytes"), 100, None)
    store.commit(orphan)
    # A killed worker's temp file, and a live upload's.
    stale, live = store.tmp_dir / "upload-dead.part", store.tmp_dir / "upload-live.part"
    stale.write_bytes(b"12345")
    live.write_bytes(b"still arriving")
    a_day_ago = time.time() - 24 * 3600
    os.utime(stale, (a_day_ago, a_day_ago))

    report = gc(env, capsys, "--json")
    assert report == {
        "media_dir": str(store.root),
        "temp_files_removed": 1,
        "temp_bytes_freed": 5,
        "media_files_removed": 1,
        "media_bytes_freed": len(b"orphan bytes"),
        "media_files_kept": 1,
    }
    assert not stale.exists() and live.exists()
    assert not store.exists(orphan.sha256)
    assert [size for _, size in store.stored()] == [len(kept)]
    sha = api.call("GET", "/v1/assets", admin).json["items"][0]["sha256"]
    assert api.call("GET", f"/v1/media/{sha}", admin).content == kept

    again = gc(env, capsys)
    assert "removed 0 stale upload temp file(s) (0 bytes) and 0 unused media" in str(again["text"])


def test_a_file_another_tenant_uses_is_kept(
    api: Api, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = api.tenant("a"), api.tenant("b")
    data = wav(b"shared")
    assert api.upload(a, data).status_code == 201
    assert api.upload(b, data).status_code == 201
    report = gc(env, capsys, "--json")
    assert report["media_files_removed"] == 0 and report["media_files_kept"] == 1
