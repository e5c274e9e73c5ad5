"""Hostile uploads against a real server on loopback: truncated, oversized
(announced and streamed), wrong Content-Type, abandoned mid-stream. Afterwards
there is no temp file, no asset row and no stored file that no asset uses."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_api.store.db import Database
from tests.control_api.media_samples import mp3, mp4, png, wav
from tests.robustness.api.conftest import MAX_UPLOAD_BYTES, Env, Reply, Served, error_of


def parse_reply(raw: bytes) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, body)


def upload_head(
    token: str, content_length: int | None, content_type: str = "audio/mpeg", chunked: bool = False
) -> bytes:
    lines = [
        "POST /v1/assets?title=t HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {token}",
        f"Content-Type: {content_type}",
    ]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_nothing_stored(served: Served, admin: str) -> None:
    env = served.env
    assert env.temp_files() == []
    assert env.orphans() == []
    listed = served.request("GET", "/v1/assets", admin)
    assert listed.status == 200 and listed.json()["items"] == [], listed.body[:300]


def test_truncated_body_is_rejected_and_leaves_nothing(served: Served) -> None:
    admin = served.env.api.tenant()
    body = wav(b"\x01" * 10_000)
    raw = served.raw(upload_head(admin, 50_000) + body, half_close=True)
    reply = parse_reply(raw)
    served.env.media.wait_finished(1)
    assert reply.status == 400, raw[:500]
    err = error_of(reply.status, reply.headers.get("content-type"), reply.body)
    assert err["code"] == "truncated_body"
    assert_nothing_stored(served, admin)
    # The same bytes uploaded whole afterwards are a normal new asset.
    ok = served.request(
        "POST", "/v1/assets", admin, body=body, headers={"Content-Type": "audio/wav"}
    )
    assert ok.status == 201, ok.body
    assert ok.json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert served.env.orphans() == []


def test_abandoned_upload_leaves_no_temp_file_or_row(served: Served) -> None:
    admin = served.env.api.tenant()
    for sent in (0, 1, 30_000, 79_999):
        before = served.env.media.finished
        served.raw(upload_head(admin, 80_000) + b"\x02" * sent, half_close=False)
        served.env.media.wait_finished(before + 1)
    assert_nothing_stored(served, admin)


def test_announced_oversize_is_refused_before_reading(served: Served) -> None:
    admin = served.env.api.tenant()
    # Only the headers: a 413 must come without the server waiting for the body.
    raw = served.raw(upload_head(admin, MAX_UPLOAD_BYTES + 1), half_close=True)
    reply = parse_reply(raw)
    assert reply.status == 413, raw[:500]
    assert error_of(reply.status, reply.headers.get("content-type"), reply.body)["code"] == (
        "payload_too_large"
    )
    raw = served.raw(upload_head(admin, 10**15), half_close=True)
    assert parse_reply(raw).status == 413, raw[:500]
    assert_nothing_stored(served, admin)


def test_limit_is_exact(served: Served) -> None:
    admin = served.env.api.tenant()
    header_bytes = len(wav(min_samples=0))
    over = served.request(
        "POST",
        "/v1/assets",
        admin,
        body=wav(min_samples=MAX_UPLOAD_BYTES - header_bytes + 2),
        headers={"Content-Type": "audio/wav"},
    )
    assert over.status == 413, over.body
    assert_nothing_stored(served, admin)
    exact = served.request(
        "POST",
        "/v1/assets",
        admin,
        body=wav(min_samples=MAX_UPLOAD_BYTES - header_bytes),
        headers={"Content-Type": "audio/wav"},
    )
    assert exact.status == 201, exact.body
    assert exact.json()["size"] == MAX_UPLOAD_BYTES
    assert served.env.orphans() == []


@pytest.mark.parametrize(
    "content_type",
    [
        "application/octet-stream",
        "text/plain",
        "audio",
        "audio/",
        "application/json",
        "multipart/form-data; boundary=x",
        "",
        "image/svg+xml",
        "image/*",
        "audio/*",
        "video/*",
        "audio/x-mpegurl",
        "application/vnd.apple.mpegurl",
        "audio/mpegurl",
        "video/mp2t",
        "application/dash+xml",
        "audio/x-scpls",
        "application/xspf+xml",
        "text/html",
        "application/sdp",
        "application/smil+xml",
        "video/x-ms-asf",
    ],
)
def test_wrong_content_type_is_415_and_stores_nothing(served: Served, content_type: str) -> None:
    admin = served.env.api.tenant()
    headers = {"Content-Type": content_type} if content_type else {}
    r = served.request("POST", "/v1/assets", admin, body=wav(b"\x04" * 5000), headers=headers)
    assert r.status == 415, (content_type, r.status, r.body)
    err = error_of(r.status, r.headers.get("content-type"), r.body)
    assert err["code"] == "unsupported_media_type"
    assert_nothing_stored(served, admin)


# ---------------------------------------------------------------- chunked, under gunicorn

GUNICORN = Path(sys.executable).with_name("gunicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


GRANIAN = Path(sys.executable).with_name("granian")
STALL_TIMEOUT_S = 2
# How each production server is started: gunicorn's WSGI entry point, and the
# unit's granian command (the ASGI entry point that reads bodies under a deadline).
PRODUCTION_COMMANDS = {
    "gunicorn": lambda port: [
        str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "20",
        "control_api.wsgi:create()",
    ],
    "granian": lambda port: [
        str(GRANIAN), "--interface", "asgi", "--loop", "uvloop", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--log-level", "warning",
        "control_api.asgi:create",
    ],
}  # fmt: skip


@pytest.fixture(params=sorted(PRODUCTION_COMMANDS))
def production_served(
    request: pytest.FixtureRequest, settings_env: dict[str, str], tmp_path: Path
) -> Iterator[Served]:
    """The production entry points under their servers (both decode chunked bodies)."""
    kind = request.param
    if not Path(PRODUCTION_COMMANDS[kind](0)[0]).exists():
        pytest.skip(f"{kind} not installed")
    from tests.robustness.api.conftest import build_env

    migrator = Database(settings_env["LOMUZ_DATABASE_URL"])
    migrator.upgrade()
    migrator.dispose()
    port = _free_port()
    log_path = tmp_path / f"{kind}.log"
    log = log_path.open("wb")
    server_env = {
        **os.environ,
        **settings_env,
        "LOMUZ_BODY_READ_TIMEOUT_S": str(STALL_TIMEOUT_S),
        "LOMUZ_BODY_MIN_RATE_BYTES_S": str(10**9),
    }
    proc = subprocess.Popen(
        PRODUCTION_COMMANDS[kind](port),
        env=server_env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"{kind} did not start"
                time.sleep(0.1)
        # The env gives the tests a view of the same database and media dir.
        for env in build_env(settings_env):
            yield Served(env, "127.0.0.1", port, kind)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def chunked(body: bytes, piece: int = 8192) -> bytes:
    out = b"".join(
        f"{len(body[i : i + piece]):x}\r\n".encode() + body[i : i + piece] + b"\r\n"
        for i in range(0, len(body), piece)
    )
    return out + b"0\r\n\r\n"


def test_chunked_oversize_is_413_and_stores_nothing(production_served: Served) -> None:
    served = production_served
    admin = served.env.api.tenant()
    body = b"\x05" * (MAX_UPLOAD_BYTES + 50_000)
    raw = served.raw(upload_head(admin, None, chunked=True) + chunked(body), half_close=True)
    reply = parse_reply(raw)
    assert reply.status == 413, raw[:500]
    error_of(reply.status, reply.headers.get("content-type"), reply.body)
    assert_nothing_stored(served, admin)


def test_chunked_upload_stores_the_real_bytes_or_asks_for_a_length(
    production_served: Served,
) -> None:
    served = production_served
    admin = served.env.api.tenant()
    body = wav(b"\x06" * 20_000)
    raw = served.raw(upload_head(admin, None, chunked=True) + chunked(body), half_close=True)
    reply = parse_reply(raw)
    # Either the streamed bytes are stored, or 411 Length Required; never an
    # empty (or otherwise wrong) asset.
    assert reply.status in (201, 411), raw[:500]
    if reply.status == 201:
        assert reply.json()["sha256"] == hashlib.sha256(body).hexdigest(), reply.body
        assert reply.json()["size"] == len(body)
    else:
        error_of(reply.status, reply.headers.get("content-type"), reply.body)
        assert_nothing_stored(served, admin)
    assert served.env.orphans() == []


def test_an_upload_streamed_in_pieces_is_stored_whole(production_served: Served) -> None:
    served = production_served
    admin = served.env.api.tenant()
    # Past the JSON limit (4 KiB here): the ASGI entry point streams it to the app.
    body = wav(bytes(range(256)) * 300)
    raw = served.raw(
        upload_head(admin, len(body), "audio/wav") + body,
        half_close=True,
        piece_bytes=7_000,
        pause_s=0.01,
    )
    reply = parse_reply(raw)
    assert reply.status == 201, raw[:500]
    assert reply.json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert reply.json()["size"] == len(body)
    assert served.env.temp_files() == []


# gunicorn has no body deadline (its --timeout restarts a stuck worker).
@pytest.mark.parametrize("production_served", ["granian"], indirect=True)
def test_an_upload_that_stalls_is_cut_with_408_and_stores_nothing(
    production_served: Served,
) -> None:
    served = production_served
    admin = served.env.api.tenant()
    body = wav(b"\x07" * 60_000)
    started = time.monotonic()
    # Nothing more is sent, and (granian) the socket stays open: the server must end it.
    raw = served.raw(
        upload_head(admin, len(body), "audio/wav") + body[:30_000],
        half_close=True,
        timeout_s=STALL_TIMEOUT_S + 10,
    )
    took_s = time.monotonic() - started
    reply = parse_reply(raw)
    assert reply.status == 408, raw[:500]
    assert error_of(reply.status, reply.headers.get("content-type"), reply.body)["code"] == (
        "body_timeout"
    )
    assert reply.headers["connection"] == "close"
    assert STALL_TIMEOUT_S - 0.5 <= took_s < STALL_TIMEOUT_S + 5, took_s
    deadline = time.monotonic() + 5
    while served.env.temp_files() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_nothing_stored(served, admin)


def test_media_dir_survives_hostile_names(served: Served) -> None:
    admin = served.env.api.tenant()
    outside = served.env.media_dir.parent / "secret.txt"
    outside.write_text("not media")
    for name in ("..%2Fsecret.txt", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "A" * 64, "0" * 63):
        r = served.request("GET", f"/v1/media/{name}", admin)
        assert r.status == 404, (name, r.status, r.body[:200])
        error_of(r.status, r.headers.get("content-type"), r.body)


def test_bad_content_length_headers_get_json_errors(served: Served) -> None:
    admin = served.env.api.tenant()
    for path, content_type in (("/v1/assets", "audio/mpeg"), ("/v1/playlists", "application/json")):
        for value in ("abc", "-1", "1e3"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {value}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            raw = served.raw(head + b"{}", half_close=True)
            reply = parse_reply(raw)
            assert 400 <= reply.status < 500, (path, value, raw[:400])
            error_of(reply.status, reply.headers.get("content-type"), reply.body)
    assert_nothing_stored(served, admin)


def test_upload_without_a_length_is_never_stored_empty(served: Served) -> None:
    """No Content-Length (or an empty one) and no chunking: the body runs to the
    close. The API must store those bytes or answer 411, not store nothing."""
    admin = served.env.api.tenant()
    body = wav(b"\x07" * 5000)
    for length_line in ("", "Content-Length: \r\n"):
        head = (
            "POST /v1/assets HTTP/1.0\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {admin}\r\nContent-Type: audio/wav\r\n{length_line}\r\n"
        ).encode()
        reply = parse_reply(served.raw(head + body, half_close=True))
        assert reply.status in (201, 411), (length_line, reply.status, reply.body[:300])
        if reply.status == 201:
            assert reply.json()["size"] == len(body), (length_line, reply.body[:300])
        else:
            error_of(reply.status, reply.headers.get("content-type"), reply.body)
    assert served.env.orphans() == []


# ---------------------------------------------------------------- hostile content

HOSTILE_OUTCOMES: Counter[str] = Counter()

_URL = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["http", "https", "rtsp", "rtmp", "udp", "file", "smb", "ftp", "mms"]),
    st.sampled_from(["10.0.0.1", "192.168.1.1:8080", "router.lan", "[fe80::1]", "169.254.169.254"]),
    st.from_regex(r"[A-Za-z0-9_./%?=&-]{0,30}", fullmatch=True),
)


def _playlist(kind: str, urls: list[str]) -> str:
    first = urls[0]
    lines = "\n".join(urls)
    return {
        "m3u": f"#EXTM3U\n#EXTINF:-1,x\n{lines}\n",
        "hls": f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{lines}\n",
        "bare": f"{lines}\n",
        "pls": f"[playlist]\nFile1={first}\nNumberOfEntries=1\nVersion=2\n",
        "xspf": f'<?xml version="1.0"?><playlist version="1" xmlns="http://xspf.org/ns/0/">'
        f"<trackList><track><location>{first}</location></track></trackList></playlist>",
        "asx": f'<asx version="3.0"><entry><ref href="{first}"/></entry></asx>',
        "smil": f'<smil><body><seq><audio src="{first}"/></seq></body></smil>',
        "sdp": f"v=0\no=- 0 0 IN IP4 10.0.0.1\ns=x\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 0\n"
        f"a=control:{first}\n",
        "mpd": f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period>'
        f"<BaseURL>{first}</BaseURL></Period></MPD>",
        "svg": f'<svg xmlns="http://www.w3.org/2000/svg"><image href="{first}"/></svg>',
        "html": f'<!DOCTYPE html><html><body><audio src="{first}"></audio></body></html>',
        "concat": f"ffconcat version 1.0\nfile '{first}'\n",
    }[kind]


_ENCODINGS = [
    (b"", "utf-8"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"", "utf-16-le"),
]


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(
        st.sampled_from(
            [
                "m3u",
                "hls",
                "bare",
                "pls",
                "xspf",
                "asx",
                "smil",
                "sdp",
                "mpd",
                "svg",
                "html",
                "concat",
            ]
        )
    )
    text = draw(st.sampled_from(["", " ", "\n", "\r\n \t"])) + _playlist(
        kind, draw(st.lists(_URL, min_size=1, max_size=4))
    )
    if draw(st.booleans()):
        text = text.upper() if draw(st.booleans()) else text
    bom, encoding = draw(st.sampled_from(_ENCODINGS))
    data = bom + text.encode(encoding)
    how = draw(st.sampled_from(["text", "real prefix", "random prefix"]))
    if how == "real prefix":
        # The leading bytes of a real file, then the playlist: a magic number in front
        # must not smuggle one in.
        real = draw(st.sampled_from([wav(), png(), mp4(), mp3()]))
        data = real[: draw(st.integers(1, 44))] + data
    elif how == "random prefix":
        data = draw(st.binary(min_size=1, max_size=16)) + data
    return f"{kind}/{how}", data


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    file=hostile_files(),
    content_type=st.sampled_from(
        [
            "audio/mpeg",
            "audio/wav",
            "audio/mp4",
            "audio/ogg",
            "video/mp4",
            "video/webm",
            "image/png",
            "image/jpeg",
            "image/gif",
        ]
    ),
)
def test_hostile_files_are_415_and_store_nothing(
    env: Env, file: tuple[str, bytes], content_type: str
) -> None:
    label, data = file
    admin = env.api.tenant()
    reply = env.api.upload(admin, data, content_type)
    code = (reply.json or {}).get("error", {}).get("code") if reply.status_code >= 400 else ""
    HOSTILE_OUTCOMES[f"{reply.status_code} {code}".strip()] += 1
    assert reply.status_code == 415, (label, content_type, data[:80], reply.text)
    assert reply.json["error"]["code"] == "unsupported_media_content"
    assert env.temp_files() == [] and env.stored_files() == [] and env.asset_shas() == set()


def test_hostile_outcomes_summary() -> None:
    """Prints what the hostile run got (pytest -s); runs after it in file order."""
    print(f"\nhostile uploads: {sum(HOSTILE_OUTCOMES.values())} tried: {dict(HOSTILE_OUTCOMES)}")
    assert not any(key.startswith("5") for key in HOSTILE_OUTCOMES)


# ---------------------------------------------------------------- quota on the wire

QUOTA_BYTES = 50_000


@pytest.fixture
def quota_served(settings_env: dict[str, str]) -> Iterator[Served]:
    from tests.robustness.api.conftest import build_env, serve

    for env in build_env({**settings_env, "LOMUZ_TENANT_QUOTA_BYTES": str(QUOTA_BYTES)}):
        for host, port in serve(env.api.app):
            yield Served(env, host, port)


def test_an_announced_length_over_the_quota_is_refused_before_reading(
    quota_served: Served,
) -> None:
    served = quota_served
    admin = served.env.api.tenant()
    first = wav(b"a", min_samples=30_000)
    assert (
        served.request(
            "POST", "/v1/assets", admin, body=first, headers={"Content-Type": "audio/wav"}
        ).status
        == 201
    )
    # Only the headers: the 413 comes without the server waiting for the body.
    raw = served.raw(upload_head(admin, 30_000, "audio/wav"), half_close=True)
    reply = parse_reply(raw)
    assert reply.status == 413, raw[:500]
    err = error_of(reply.status, reply.headers.get("content-type"), reply.body)
    assert err["code"] == "quota_exceeded"
    assert f"{len(first)} used" in err["message"] and str(QUOTA_BYTES) in err["message"]
    assert served.env.temp_files() == []
    # A length equal to an existing asset's may be a re-upload: read, hashed, 200.
    again = served.request(
        "POST", "/v1/assets", admin, body=first, headers={"Content-Type": "audio/wav"}
    )
    assert again.status == 200, again.body
    # Same length, other bytes: refused after streaming, the temp file removed.
    other = wav(b"b", min_samples=30_000)
    late = served.request(
        "POST", "/v1/assets", admin, body=other, headers={"Content-Type": "audio/wav"}
    )
    assert late.status == 413 and late.json()["error"]["code"] == "quota_exceeded"
    assert served.env.temp_files() == [] and len(served.env.stored_files()) == 1


def test_parallel_uploads_never_pass_the_quota_together(quota_served: Served) -> None:
    served = quota_served
    admin = served.env.api.tenant()
    # 8 distinct files of 12 044 bytes: 4 fit in 50 000, the 5th would not.
    bodies = [wav(bytes([i]), min_samples=12_000) for i in range(8)]
    barrier = threading.Barrier(len(bodies))

    def upload(body: bytes) -> int:
        barrier.wait(timeout=10)
        return served.request(
            "POST", "/v1/assets", admin, body=body, headers={"Content-Type": "audio/wav"}
        ).status

    with ThreadPoolExecutor(len(bodies)) as pool:
        statuses = sorted(pool.map(upload, bodies))
    assert statuses == [201] * 4 + [413] * 4, statuses
    listed = served.request("GET", "/v1/assets", admin).json()["items"]
    assert sum(a["size"] for a in listed) <= QUOTA_BYTES
    assert served.env.orphans() == []


def test_a_delete_racing_an_upload_of_the_same_bytes_never_loses_the_file(
    served: Served,
) -> None:
    """Tenant A deletes and re-uploads X while tenant B uploads X: whenever B has an
    asset of X, its file is there."""
    a, b = served.env.api.tenant("a"), served.env.api.tenant("b")
    data = wav(b"contended", min_samples=20_000)
    sha = hashlib.sha256(data).hexdigest()
    headers = {"Content-Type": "audio/wav"}

    def churn() -> None:
        for _ in range(15):
            r = served.request("POST", "/v1/assets", a, body=data, headers=headers)
            assert r.status in (200, 201), r.body
            assert served.request("DELETE", f"/v1/assets/{r.json()['id']}", a).status == 204

    def hold() -> None:
        for _ in range(15):
            r = served.request("POST", "/v1/assets", b, body=data, headers=headers)
            assert r.status in (200, 201), r.body
            got = served.request("GET", f"/v1/media/{sha}", b)
            assert got.status == 200 and got.body == data, got.status
            assert served.request("DELETE", f"/v1/assets/{r.json()['id']}", b).status == 204

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(churn), pool.submit(hold)]:
            future.result(timeout=120)
    # Both deleted their last asset: nothing is left behind.
    assert served.env.stored_files() == [] and served.env.asset_shas() == set()
