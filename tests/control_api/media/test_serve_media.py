"""serve_media through Falcon's TestClient and through a real server on loopback."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import falcon
import falcon.testing
import httpx
import pytest

from control_api.media import LocalMediaStore, MediaNotFound, MediaStorageError
from control_api.media_http import CACHE_CONTROL, STREAM_CHUNK_BYTES, serve_media
from tests.control_api.openapi_check import CheckedClient

DATA = bytes(range(256)) * 1000 + b"tail"  # 256,004 bytes: several stream chunks
SHA = hashlib.sha256(DATA).hexdigest()
ETAG = f'"{SHA}"'
OTHER_ETAG = '"' + "0" * 64 + '"'


class MediaResource:
    def __init__(self, store: LocalMediaStore, sizes: dict[str, int]) -> None:
        self.store = store
        self.sizes = sizes

    def on_get(self, req: falcon.Request, resp: falcon.Response, sha256: str) -> None:
        if sha256 not in self.sizes:
            raise falcon.HTTPNotFound()
        serve_media(
            req, resp, self.store.path_for(sha256), sha256, self.sizes[sha256], "audio/mpeg"
        )

    on_head = on_get


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    store = LocalMediaStore(tmp_path / "media")
    for data in (DATA, b""):
        store.commit(store.receive(io.BytesIO(data), len(DATA), len(data)))
    return store


@pytest.fixture
def app(store: LocalMediaStore) -> falcon.App[Any, Any]:
    app = falcon.App()
    sizes = {SHA: len(DATA), hashlib.sha256(b"").hexdigest(): 0}
    app.add_route("/v1/media/{sha256}", MediaResource(store, sizes))
    return app


@pytest.fixture
def client(app: falcon.App[Any, Any]) -> falcon.testing.TestClient:
    return CheckedClient(app)


def get(client: falcon.testing.TestClient, **headers: str) -> falcon.testing.Result:
    return client.simulate_get(f"/v1/media/{SHA}", headers=headers)


def test_full_get(client: falcon.testing.TestClient) -> None:
    r = get(client)
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["etag"] == ETAG
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["cache-control"] == CACHE_CONTROL
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["content-type"] == "audio/mpeg"
    assert "content-range" not in r.headers


def test_single_range(client: falcon.testing.TestClient) -> None:
    r = get(client, Range="bytes=1000-200999")
    assert r.status_code == 206
    assert r.content == DATA[1000:201000]
    assert r.headers["content-range"] == f"bytes 1000-200999/{len(DATA)}"
    assert r.headers["content-length"] == "200000"
    assert r.headers["etag"] == ETAG


def test_suffix_and_open_ranges(client: falcon.testing.TestClient) -> None:
    r = get(client, Range="bytes=-4")
    assert (r.status_code, r.content) == (206, b"tail")
    r = get(client, Range=f"bytes={len(DATA) - STREAM_CHUNK_BYTES - 3}-")
    assert r.status_code == 206
    assert r.content == DATA[len(DATA) - STREAM_CHUNK_BYTES - 3 :]


def test_unsatisfiable_range(client: falcon.testing.TestClient) -> None:
    r = get(client, Range=f"bytes={len(DATA)}-")
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(DATA)}"
    assert r.json["error"]["code"] == "range_not_satisfiable"
    assert "cache-control" not in r.headers


def test_multiple_ranges_get_the_whole_file(client: falcon.testing.TestClient) -> None:
    r = get(client, Range="bytes=0-1,10-20")
    assert r.status_code == 200
    assert r.content == DATA


def test_malformed_range_is_ignored(client: falcon.testing.TestClient) -> None:
    r = get(client, Range="bytes=oops")
    assert (r.status_code, len(r.content)) == (200, len(DATA))


def test_if_range_match_honours_range(client: falcon.testing.TestClient) -> None:
    r = get(client, Range="bytes=10-19", **{"If-Range": ETAG})
    assert (r.status_code, r.content) == (206, DATA[10:20])


@pytest.mark.parametrize(
    "if_range", [OTHER_ETAG, "W/" + ETAG, "Wed, 21 Oct 2015 07:28:00 GMT", "garbage"]
)
def test_if_range_mismatch_sends_the_whole_file(
    client: falcon.testing.TestClient, if_range: str
) -> None:
    r = get(client, Range="bytes=10-19", **{"If-Range": if_range})
    assert r.status_code == 200
    assert r.content == DATA


def test_if_range_mismatch_with_unsatisfiable_range_is_still_200(
    client: falcon.testing.TestClient,
) -> None:
    r = get(client, Range="bytes=999999999-", **{"If-Range": OTHER_ETAG})
    assert r.status_code == 200


@pytest.mark.parametrize("inm", [ETAG, "W/" + ETAG, "*", f"{OTHER_ETAG}, {ETAG}"])
def test_if_none_match_gives_304(client: falcon.testing.TestClient, inm: str) -> None:
    r = get(client, **{"If-None-Match": inm, "Range": "bytes=0-1"})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == ETAG
    assert r.headers["cache-control"] == CACHE_CONTROL


def test_if_none_match_other_etag_serves(client: falcon.testing.TestClient) -> None:
    r = get(client, **{"If-None-Match": OTHER_ETAG})
    assert (r.status_code, len(r.content)) == (200, len(DATA))


def test_head(client: falcon.testing.TestClient) -> None:
    r = client.simulate_head(f"/v1/media/{SHA}", headers={"Range": "bytes=0-9"})
    assert r.status_code == 200  # Range is defined for GET only
    assert r.content == b""
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["etag"] == ETAG
    assert r.headers["accept-ranges"] == "bytes"


def test_zero_length_file(client: falcon.testing.TestClient) -> None:
    empty = hashlib.sha256(b"").hexdigest()
    r = client.simulate_get(f"/v1/media/{empty}")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    r = client.simulate_get(f"/v1/media/{empty}", headers={"Range": "bytes=0-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */0"
    r = client.simulate_get(f"/v1/media/{empty}", headers={"Range": "bytes=-5"})
    assert (r.status_code, r.content) == (200, b"")


def test_missing_or_wrong_size_file_is_an_error(store: LocalMediaStore) -> None:
    req = falcon.testing.create_req(path="/x")
    resp = falcon.Response()
    with pytest.raises(MediaNotFound):
        serve_media(req, resp, store.path_for("b" * 64), "b" * 64, 10, "audio/mpeg")
    with pytest.raises(MediaStorageError, match="on disk"):
        serve_media(req, resp, store.path_for(SHA), SHA, len(DATA) + 1, "audio/mpeg")


# --- the same over a real socket ---------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def base_url(app: falcon.App[Any, Any]) -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def test_over_loopback(base_url: str) -> None:
    url = f"{base_url}/v1/media/{SHA}"
    with httpx.Client(timeout=10) as http:
        full = http.get(url)
        assert full.status_code == 200
        assert full.content == DATA
        assert full.headers["etag"] == ETAG

        part = http.get(url, headers={"Range": "bytes=100-"})
        assert part.status_code == 206
        assert part.content == DATA[100:]
        assert part.headers["content-range"] == f"bytes 100-{len(DATA) - 1}/{len(DATA)}"

        resumed = http.get(url, headers={"Range": "bytes=-1000", "If-Range": ETAG})
        assert (resumed.status_code, resumed.content) == (206, DATA[-1000:])

        changed = http.get(url, headers={"Range": "bytes=-1000", "If-Range": OTHER_ETAG})
        assert (changed.status_code, changed.content) == (200, DATA)

        cached = http.get(url, headers={"If-None-Match": ETAG})
        assert (cached.status_code, cached.content) == (304, b"")

        bad = http.get(url, headers={"Range": "bytes=9999999-"})
        assert bad.status_code == 416
        assert bad.headers["content-range"] == f"bytes */{len(DATA)}"

        head = http.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(DATA))
        assert head.content == b""


def test_resume_over_loopback_reassembles_the_file(base_url: str) -> None:
    """What the player does: download part, stop, resume with Range + If-Range."""
    url = f"{base_url}/v1/media/{SHA}"
    got = bytearray()
    with httpx.Client(timeout=10) as http:
        with http.stream("GET", url) as r:
            for chunk in r.iter_bytes(10_000):
                got += chunk
                if len(got) >= 70_000:
                    break
        r2 = http.get(url, headers={"Range": f"bytes={len(got)}-", "If-Range": ETAG})
        assert r2.status_code == 206
        got += r2.content
    assert hashlib.sha256(got).hexdigest() == SHA
