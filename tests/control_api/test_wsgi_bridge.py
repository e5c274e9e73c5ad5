"""The ASGI entry point's bridge to the WSGI app (control_api.wsgi_bridge).

Driven by a hand-written ASGI server: each request's body arrives as the test
schedules it (whole, in pieces, chunked, or stopping half way), against toy
WSGI apps that show what the app sees and against the real app. The real
server with hundreds of slow clients is tests/robustness/api/test_slow_bodies.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_api.core.body_deadline import BodyReadPolicy
from control_api.http_errors import RequestTimeout
from control_api.wsgi_bridge import StartResponse, WsgiOverAsgi
from tests.control_api.conftest import make_api

GENEROUS = BodyReadPolicy(grace_s=30, min_rate_bytes_s=500)
STRICT = BodyReadPolicy(grace_s=0.3, min_rate_bytes_s=1_000_000)


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    took_s: float
    body_messages: int


@dataclass
class Client:
    """One request as a client sends it: ``parts`` of the body with a pause
    before each; ``stalls`` leaves the body unfinished (the client stops)."""

    parts: list[bytes] = field(default_factory=list)
    pause_s: float = 0.0
    stalls: bool = False
    disconnect: bool = False

    async def receive(self) -> dict[str, Any]:
        if self.parts:
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
            part = self.parts.pop(0)
            last = not self.parts and not (self.stalls or self.disconnect)
            return {"type": "http.request", "body": part, "more_body": not last}
        if self.disconnect:
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)  # a client that sends nothing more
        raise AssertionError("unreachable")


def _scope(
    method: str, path: str, headers: Iterable[tuple[str, str]], query: bytes
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("192.0.2.7", 40123),
        "server": ("127.0.0.1", 8080),
    }


async def asgi_request(
    app: WsgiOverAsgi,
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    client: Client | None = None,
    query: bytes = b"",
) -> Answer | None:
    """The answer, or None when the bridge sent nothing (on the running loop)."""
    client = client or Client()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    await asyncio.wait_for(app(_scope(method, path, headers, query), client.receive, send), 30)
    took_s = time.monotonic() - started
    if not sent:
        return None
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in bodies)
    assert all(m.get("more_body") for m in bodies[:-1]) and not bodies[-1].get("more_body")
    return Answer(
        start["status"],
        dict(start["headers"]),
        b"".join(m["body"] for m in bodies),
        took_s,
        len(bodies),
    )


def request(app: WsgiOverAsgi, method: str, path: str, **kw: Any) -> Answer | None:
    """One request on a loop of its own."""
    return asyncio.run(asgi_request(app, method, path, **kw))


def echo_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """Answers with what it was given: the environ's CGI keys and the body's digest."""
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if k.isupper()}
    seen["body_sha256"] = hashlib.sha256(body).hexdigest()
    seen["body_bytes"] = len(body)
    start_response("200 OK", [("Content-Type", "application/json"), ("X-Seen", "1")])
    return [json.dumps(seen).encode()]


def bridge(app: Any, policy: BodyReadPolicy = GENEROUS, **kw: Any) -> WsgiOverAsgi:
    kw.setdefault("buffer_bytes", 1024)
    return WsgiOverAsgi(app, threads=4, body_policy=policy, **kw)


def test_the_app_sees_a_pep_3333_environ() -> None:
    answer = request(
        bridge(echo_app), "GET", "/v1/caf\u00e9 x",
        query=b"since=r1&x=%20",
        headers=[("Host", "api.example"), ("Accept", "a/b"), ("Accept", "c/d"),
                 ("Content-Type", "text/plain")],
    )  # fmt: skip
    assert answer is not None and answer.status == 200
    seen = json.loads(answer.body)
    assert seen["REQUEST_METHOD"] == "GET"
    # Native strings holding the UTF-8 bytes as latin-1, as granian's WSGI does.
    assert seen["PATH_INFO"] == "/v1/caf\u00e9 x".encode().decode("latin-1")
    assert seen["QUERY_STRING"] == "since=r1&x=%20"
    assert seen["HTTP_HOST"] == "api.example"
    assert seen["HTTP_ACCEPT"] == "a/b,c/d"
    assert seen["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_CONTENT_TYPE" not in seen
    assert seen["REMOTE_ADDR"] == "192.0.2.7"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("127.0.0.1", "8080")
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["body_bytes"] == 0
    assert answer.headers[b"x-seen"] == b"1"
    assert b"connection" not in answer.headers


@pytest.mark.parametrize("buffer_bytes", [1 << 20, 7], ids=["buffered", "streamed"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_in_pieces_reaches_the_app_whole(buffer_bytes: int, framing: str) -> None:
    body = bytes(range(256)) * 40
    parts = [body[i : i + 999] for i in range(0, len(body), 999)]
    header = (
        ("Content-Length", str(len(body))) if framing == "content-length"
        else ("Transfer-Encoding", "chunked")
    )  # fmt: skip
    answer = request(
        bridge(echo_app, buffer_bytes=buffer_bytes), "POST", "/echo",
        headers=[header], client=Client(parts, pause_s=0.001),
    )  # fmt: skip
    assert answer is not None and answer.status == 200
    seen = json.loads(answer.body)
    assert seen["body_bytes"] == len(body)
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert b"connection" not in answer.headers


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=8),
    reads=st.lists(st.one_of(st.integers(-1, 700), st.just("line")), min_size=1, max_size=12),
    buffer_bytes=st.sampled_from([1, 100, 1 << 20]),
)
def test_any_split_of_the_body_and_any_reads_give_back_the_bytes_sent(
    body: bytes, cuts: list[int], reads: list[int | str], buffer_bytes: int
) -> None:
    edges = sorted({0, len(body), *(c for c in cuts if c <= len(body))})
    parts = [body[a:b] for a, b in itertools.pairwise(edges)] or [b""]

    def reading_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        got = bytearray()
        for how in reads:
            got += stream.readline() if how == "line" else stream.read(how)
        got += stream.read()
        start_response("200 OK", [])
        return [bytes(got)]

    answer = request(
        bridge(reading_app, buffer_bytes=buffer_bytes), "POST", "/",
        headers=[("Content-Length", str(len(body)))], client=Client(parts),
    )  # fmt: skip
    assert answer is not None
    assert answer.body == body


def test_readline_stops_after_each_newline() -> None:
    def lines_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [json.dumps([line.decode() for line in environ["wsgi.input"]]).encode()]

    answer = request(
        bridge(lines_app, buffer_bytes=3), "POST", "/",
        headers=[("Transfer-Encoding", "chunked")],
        client=Client([b"a\nbc", b"d\n\ne", b"f"]),
    )  # fmt: skip
    assert answer is not None
    assert json.loads(answer.body) == ["a\n", "bcd\n", "\n", "ef"]


def test_a_body_that_stops_half_way_is_answered_408_and_the_connection_closed() -> None:
    called: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        called.append("yes")
        try:
            environ["wsgi.input"].read()
        except RequestTimeout as exc:
            start_response("408 Request Timeout", list(exc.headers.items()))
            return [exc.code.encode()]
        raise AssertionError("the read must not return a short body")

    answer = request(
        bridge(app, STRICT), "POST", "/",
        headers=[("Content-Length", "100")], client=Client([b"x" * 10], stalls=True),
    )  # fmt: skip
    assert answer is not None
    assert (answer.status, answer.body) == (408, b"body_timeout")
    assert answer.headers[b"connection"] == b"close"
    assert STRICT.grace_s <= answer.took_s < STRICT.grace_s + 2
    assert called == ["yes"]


def test_a_client_that_leaves_before_its_body_ends_gets_no_answer_and_no_thread() -> None:
    called: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        called.append("yes")
        start_response("200 OK", [])
        return [b""]

    answer = request(
        bridge(app), "POST", "/",
        headers=[("Content-Length", "100")], client=Client([b"x" * 10], disconnect=True),
    )  # fmt: skip
    assert answer is None
    assert called == []


def test_an_answer_given_before_the_body_is_read_closes_the_connection() -> None:
    def refusing_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("401 Unauthorized", [("Connection", "keep-alive")])
        return [b"no"]

    answer = request(
        bridge(refusing_app, buffer_bytes=10), "POST", "/v1/assets",
        headers=[("Content-Length", "100000")],
        client=Client([b"x" * 20], stalls=True),
    )  # fmt: skip
    assert answer is not None and answer.status == 401
    # The rest of the body is never read: the connection cannot carry another request.
    assert answer.headers[b"connection"] == b"close"
    assert answer.took_s < 5


class Chunks:
    """A response body of ``count`` chunks that records whether it was closed."""

    def __init__(self, count: int, size_bytes: int) -> None:
        self.count = count
        self.size_bytes = size_bytes
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.count):
            yield bytes([i % 256]) * self.size_bytes

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(("count", "size_bytes"), [(0, 0), (1, 10), (80, 65536)])
def test_responses_arrive_whole_and_in_order_and_their_iterable_is_closed(
    count: int, size_bytes: int
) -> None:
    body = Chunks(count, size_bytes)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Chunks:
        start_response("200 OK", [("Content-Length", str(count * size_bytes))])
        return body

    answer = request(bridge(app, batch_bytes=256 * 1024), "GET", "/media/x")
    assert answer is not None
    assert answer.body == b"".join(Chunks(count, size_bytes))
    assert body.closed
    # A short answer leaves in one message; a long one in batches, never all at once.
    total_bytes, batch_bytes = count * size_bytes, 256 * 1024
    expected = 1 if total_bytes < batch_bytes else total_bytes // batch_bytes + 1
    assert answer.body_messages == expected


def test_lifespan_is_acknowledged_and_shutdown_stops_the_threads() -> None:
    app = bridge(echo_app)
    assert request(app, "GET", "/") is not None
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.fixture
def real_app(tmp_path: Path) -> Iterator[Any]:
    env = {
        "LOMUZ_DATABASE_URL": f"sqlite:///{tmp_path / 'control.db'}",
        "LOMUZ_MEDIA_DIR": str(tmp_path / "media"),
    }
    for api in make_api(env):
        yield api.app


@pytest.mark.parametrize("buffer_bytes", [1 << 20, 16], ids=["buffered", "streamed"])
def test_the_real_app_answers_a_late_body_408_body_timeout(
    real_app: Any, buffer_bytes: int
) -> None:
    app = bridge(real_app, STRICT, buffer_bytes=buffer_bytes)
    answer = request(
        app, "POST", "/v1/enroll",
        headers=[("Content-Type", "application/json"), ("Content-Length", "200")],
        client=Client([b'{"enrollment_code": "', b"x" * 30], stalls=True),
    )  # fmt: skip
    assert answer is not None
    assert answer.status == 408
    assert json.loads(answer.body)["error"]["code"] == "body_timeout"
    assert answer.headers[b"connection"] == b"close"
    assert answer.headers[b"x-content-type-options"] == b"nosniff"
    # The same body sent in time is read: an unknown code.
    body = json.dumps({"enrollment_code": "y" * 12}).encode()
    answer = request(
        app, "POST", "/v1/enroll",
        headers=[("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        client=Client([body[:5], body[5:]]),
    )  # fmt: skip
    assert answer is not None and answer.status == 401, answer
    assert b"connection" not in answer.headers


def test_the_deadline_grows_with_the_bytes_received() -> None:
    policy = BodyReadPolicy(grace_s=30, min_rate_bytes_s=500)
    assert policy.deadline_at(100.0, 0) == 130.0
    assert policy.deadline_at(100.0, 5000) == 140.0
    with pytest.raises(ValueError, match="grace_s"):
        BodyReadPolicy(grace_s=0)
    with pytest.raises(ValueError, match="min_rate_bytes_s"):
        BodyReadPolicy(min_rate_bytes_s=0)


def test_what_a_worker_buffers_at_once_stays_within_its_budget() -> None:
    """Forty clients each trickling a 1,000-byte JSON-sized body: unbounded, the
    worker would hold 40,000 bytes; with a budget of 2,000 it holds at most
    that, the others wait their turn, and every body still arrives."""
    budget_bytes, part_bytes, clients = 2000, 100, 40
    app = bridge(echo_app, buffer_bytes=4096, buffer_budget_bytes=budget_bytes)
    bodies = [bytes([i]) * 1000 for i in range(clients)]
    most_held = 0

    async def watch() -> None:
        nonlocal most_held
        while True:
            most_held = max(most_held, app.buffered_bytes)
            await asyncio.sleep(0)

    async def run_all() -> list[Answer | None]:
        watcher = asyncio.create_task(watch())
        try:
            return await asyncio.gather(*(
                asgi_request(
                    app, "POST", "/echo", headers=[("Content-Length", str(len(body)))],
                    client=Client([body[i : i + part_bytes]
                                   for i in range(0, len(body), part_bytes)], pause_s=0.002),
                )
                for body in bodies
            ))  # fmt: skip
        finally:
            watcher.cancel()

    answers = asyncio.run(run_all())
    for body, answer in zip(bodies, answers, strict=True):
        assert answer is not None and answer.status == 200
        assert json.loads(answer.body)["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert 0 < most_held <= budget_bytes
    assert app.buffered_bytes == 0


def test_a_stalled_body_holding_the_budget_is_cut_and_frees_its_room() -> None:
    """The stalled request is cut at its deadline (408) and the one queued
    behind it is answered (200 once the room is free, or 408 at its own
    deadline, which falls at about the same instant); nothing stays reserved."""
    app = bridge(_read_or_408, STRICT, buffer_bytes=4096, buffer_budget_bytes=10)

    async def two() -> tuple[Answer | None, Answer | None]:
        hog = asgi_request(
            app,
            "POST",
            "/",
            headers=[("Content-Length", "100")],
            client=Client([b"x" * 50], stalls=True),
        )
        waiting = asgi_request(
            app,
            "POST",
            "/",
            headers=[("Content-Length", "5")],
            client=Client([b"y" * 5], pause_s=0.05),
        )
        return await asyncio.gather(hog, waiting)

    hog, waiting = asyncio.run(two())
    assert hog is not None and (hog.status, hog.body) == (408, b"body_timeout")
    assert waiting is not None and waiting.status in (200, 408)
    assert app.buffered_bytes == 0


def _read_or_408(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    try:
        body = environ["wsgi.input"].read()
    except RequestTimeout as exc:
        start_response("408 Request Timeout", list(exc.headers.items()))
        return [exc.code.encode()]
    start_response("200 OK", [])
    return [body]
