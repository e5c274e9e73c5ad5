"""Asset files on disk: refused content stores nothing, a file goes with its last
asset (across tenants), stale temp files go at start, tenant quotas."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_api.media import LocalMediaStore
from tests.control_api.conftest import Api, make_api
from tests.control_api.media_samples import mp3, mp4, png, wav

HLS = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://192.168.1.10/admin.ts\n"


def media_dir(api: Api) -> Path:
    store = api.app.deps.media  # type: ignore[attr-defined]
    assert isinstance(store, LocalMediaStore)
    return store.root


def files_on_disk(api: Api) -> list[Path]:
    root = media_dir(api)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def stored_path(api: Api, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return media_dir(api) / "sha256" / sha[:2] / sha


@pytest.mark.parametrize(
    ("data", "content_type", "found"),
    [
        (HLS, "audio/mpeg", "an HLS playlist, not audio"),
        (b"[playlist]\nFile1=http://10.0.0.1/\n", "audio/x-wav", "a PLS playlist, not audio"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", "an SVG image, not image"),
        (png(b"x"), "audio/mpeg", "PNG data, not audio"),
        (wav(b"x"), "image/png", "WAV data, not image"),
        (mp4(b"x"), "audio/mp4", "not audio"),
        (mp3(b"x"), "video/mp4", "not video"),
    ],
)
def test_refused_content_is_415_and_stores_nothing(
    api: Api, data: bytes, content_type: str, found: str
) -> None:
    admin = api.tenant()
    reply = api.upload(admin, data, content_type)
    assert reply.status_code == 415, reply.text
    assert reply.json["error"]["code"] == "unsupported_media_content"
    assert found in reply.json["error"]["message"]
    assert files_on_disk(api) == []
    assert api.call("GET", "/v1/assets", admin).json["items"] == []


def test_an_svg_or_wildcard_content_type_is_refused(api: Api) -> None:
    admin = api.tenant()
    for content_type in ("image/svg+xml", "image/*", "audio/x-mpegurl"):
        reply = api.upload(admin, png(b"x"), content_type)
        assert reply.status_code == 415, (content_type, reply.text)
        assert reply.json["error"]["code"] == "unsupported_media_type"
    assert files_on_disk(api) == []


def test_the_file_goes_with_the_last_asset_of_any_tenant(api: Api) -> None:
    a, b = api.tenant("a"), api.tenant("b")
    data = wav(b"shared jingle")
    first = api.upload(a, data).json
    second = api.upload(b, data).json
    path = stored_path(api, data)
    assert path.is_file()
    assert api.call("DELETE", f"/v1/assets/{first['id']}", a).status_code == 204
    # B still has an asset of these bytes: the file stays and is served.
    assert path.is_file()
    assert api.call("GET", f"/v1/media/{second['sha256']}", b).content == data
    assert api.call("DELETE", f"/v1/assets/{second['id']}", b).status_code == 204
    assert not path.exists()
    assert files_on_disk(api) == []
    # The same bytes uploaded again are stored again.
    again = api.upload(a, data)
    assert again.status_code == 201 and path.is_file()


def test_an_asset_in_use_keeps_its_file(api: Api) -> None:
    admin = api.tenant()
    asset = api.upload(admin, wav(b"in use")).json
    playlist = {"name": "p", "items": [{"asset_id": asset["id"]}]}
    assert api.call("POST", "/v1/playlists", admin, json=playlist).status_code == 201
    assert api.call("DELETE", f"/v1/assets/{asset['id']}", admin).status_code == 409
    assert stored_path(api, wav(b"in use")).is_file()


def test_stale_upload_temp_files_are_removed_at_start(settings_env: dict[str, str]) -> None:
    tmp = Path(settings_env["LOMUZ_MEDIA_DIR"]) / "tmp"
    tmp.mkdir(parents=True)
    stale, live = tmp / "upload-killed.part", tmp / "upload-live.part"
    stale.write_bytes(b"half an upload")
    live.write_bytes(b"another worker is writing this")
    a_day_ago = time.time() - 24 * 3600
    os.utime(stale, (a_day_ago, a_day_ago))
    for api in make_api(settings_env):
        assert not stale.exists()
        assert live.exists()
        assert api.call("GET", "/healthz").status_code == 200


# ---------------------------------------------------------------- quota

QUOTA_BYTES = 3000


@pytest.fixture
def quota_api(settings_env: dict[str, str]) -> Iterator[Api]:
    yield from make_api({**settings_env, "LOMUZ_TENANT_QUOTA_BYTES": str(QUOTA_BYTES)})


def test_quota_refuses_what_would_not_fit_and_never_a_re_upload(quota_api: Api) -> None:
    api = quota_api
    admin, other = api.tenant("a"), api.tenant("b")
    first = wav(b"1", min_samples=1800)  # 1844 bytes
    assert api.upload(admin, first).status_code == 201
    second = wav(b"2", min_samples=1200)  # 1244 bytes: 3088 > 3000
    refused = api.upload(admin, second)
    assert refused.status_code == 413, refused.text
    assert refused.json["error"]["code"] == "quota_exceeded"
    message = refused.json["error"]["message"]
    assert "1844 used" in message and f"quota of {QUOTA_BYTES} bytes" in message
    assert api.call("GET", "/v1/assets", admin).json["items"][0]["size"] == len(first)
    assert not stored_path(api, second).exists()
    assert not list((media_dir(api) / "tmp").iterdir())
    # The same bytes again are the existing asset, full or not.
    again = api.upload(admin, first)
    assert again.status_code == 200
    # What fits, fits; another tenant has its own quota.
    assert api.upload(admin, wav(b"3", min_samples=1100)).status_code == 201  # 2988
    assert api.upload(other, second).status_code == 201
    # Deleting frees room.
    asset_id = again.json["id"]
    assert api.call("DELETE", f"/v1/assets/{asset_id}", admin).status_code == 204
    assert api.upload(admin, second).status_code == 201


def test_an_unset_quota_is_unlimited(api: Api) -> None:
    assert api.app.deps.settings.tenant_quota_bytes == 0  # type: ignore[attr-defined]
    admin = api.tenant()
    for i in range(3):
        assert api.upload(admin, wav(bytes([i]), min_samples=30_000)).status_code == 201
