"""Each fault the proxy injects is observable by a real httpx client on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.robustness.conftest import BLOB, _Upstream
from tests.robustness.faultproxy import (
    Fault,
    FaultKind,
    FaultProxy,
    RandomPolicy,
    RequestInfo,
    ScriptedPolicy,
)


@pytest.fixture
def proxy(upstream: _Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(
        "127.0.0.1", upstream.server_address[1], max_stall_s=5.0, io_timeout_s=5.0
    ) as p:
        yield p


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=5.0) as c:
        yield c


def _script(proxy: FaultProxy, *faults: Fault) -> None:
    proxy.set_policy(ScriptedPolicy(faults))


def test_pass_through_is_byte_identical_and_keeps_the_connection(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    first = client.get("/blob")
    second = client.get("/blob")
    assert first.status_code == 200
    assert first.content == BLOB
    assert second.content == BLOB
    assert first.headers["etag"] == second.headers["etag"]
    assert proxy.stats().connections_total == 1
    assert proxy.stats().requests_total == 2


def test_range_request_passes_through(client: httpx.Client) -> None:
    response = client.get("/blob", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.content == BLOB[1000:2000]
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(BLOB)}"


def test_post_body_and_bodiless_responses_pass_through(client: httpx.Client) -> None:
    payload = bytes(range(256)) * 40
    assert client.post("/echo", content=payload).content == payload
    assert client.get("/not-modified").status_code == 304
    head = client.head("/blob")
    assert head.status_code == 200
    assert head.content == b""
    assert client.get("/blob").content == BLOB  # framing still right after HEAD


def test_chunked_upstream_passes_through(client: httpx.Client) -> None:
    assert client.get("/chunked").content == BLOB


def test_drop_closes_without_a_response_and_never_reaches_upstream(
    proxy: FaultProxy, client: httpx.Client, upstream: _Upstream
) -> None:
    _script(proxy, Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        client.get("/blob")
    assert upstream.hits.get("/blob", 0) == 0
    assert client.get("/blob").content == BLOB  # the next request is clean


def test_drop_after_forwarding_loses_the_answer_but_the_server_acted(
    proxy: FaultProxy, client: httpx.Client, upstream: _Upstream
) -> None:
    _script(proxy, Fault.drop(forward=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/plays", content=b"{}")
    assert upstream.hits["/plays"] == 1
    assert proxy.stats().forwarded_total == 1


def test_reset_mid_body_is_a_read_error(proxy: FaultProxy, client: httpx.Client) -> None:
    _script(proxy, Fault.reset(fraction=0.5))
    with pytest.raises(httpx.ReadError, match="reset"):
        client.get("/blob")


def test_reset_before_the_head(proxy: FaultProxy, client: httpx.Client) -> None:
    _script(proxy, Fault.reset(fraction=None))
    with pytest.raises(httpx.ReadError, match="reset"):
        client.get("/blob")
    assert proxy.records()[0].status is None


def test_stall_longer_than_the_read_timeout_times_out(proxy: FaultProxy) -> None:
    _script(proxy, Fault.stall(2.0))
    with httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(5.0, read=0.3)) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.get("/blob")
        assert time.monotonic() - started < 1.5


def test_short_stall_mid_body_still_delivers_the_body(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    _script(proxy, Fault.stall(0.3, fraction=0.5))
    started = time.monotonic()
    response = client.get("/blob")
    assert time.monotonic() - started >= 0.3
    assert response.content == BLOB


def test_stall_is_bounded_by_max_stall(upstream: _Upstream) -> None:
    with (
        FaultProxy(
            "127.0.0.1",
            upstream.server_address[1],
            max_stall_s=0.2,
            policy=ScriptedPolicy([Fault.stall(60.0)]),
        ) as p,
        httpx.Client(base_url=p.url, timeout=5.0) as c,
    ):
        started = time.monotonic()
        assert c.get("/blob").content == BLOB
        assert time.monotonic() - started < 2.0


def test_error_is_answered_by_the_proxy(
    proxy: FaultProxy, client: httpx.Client, upstream: _Upstream
) -> None:
    _script(proxy, Fault.error(502), Fault.error(503, forward=True))
    first = client.get("/blob")
    assert first.status_code == 502
    assert first.json()["error"]["code"] == "injected_fault"
    assert upstream.hits.get("/blob", 0) == 0
    second = client.get("/blob")
    assert second.status_code == 503
    assert upstream.hits["/blob"] == 1
    assert client.get("/blob").content == BLOB  # same connection, framing intact


def test_rate_limit_carries_retry_after(proxy: FaultProxy, client: httpx.Client) -> None:
    _script(proxy, Fault.rate_limit(7))
    response = client.get("/blob")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("path", ["/blob", "/chunked"])
def test_truncated_body_is_an_incomplete_message(
    proxy: FaultProxy, client: httpx.Client, path: str
) -> None:
    _script(proxy, Fault.truncate(fraction=0.25))
    received = bytearray()

    def read_all() -> None:
        with client.stream("GET", path) as response:
            for chunk in response.iter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message"):
        read_all()
    assert bytes(received) == BLOB[: len(BLOB) // 4]


def test_corrupt_flips_exactly_the_requested_bits_keeping_the_length(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    _script(proxy, Fault.corrupt(flips=3, seed=42))
    body = client.get("/blob").content
    assert len(body) == len(BLOB)
    flipped = sum(bin(a ^ b).count("1") for a, b in zip(body, BLOB, strict=True))
    assert flipped == 3


def test_corruption_is_deterministic_by_seed(upstream: _Upstream) -> None:
    bodies = []
    for _ in range(2):
        with (
            FaultProxy(
                "127.0.0.1",
                upstream.server_address[1],
                policy=ScriptedPolicy([Fault.corrupt(flips=5, seed=9)]),
            ) as p,
            httpx.Client(base_url=p.url, timeout=5.0) as c,
        ):
            bodies.append(c.get("/blob").content)
    assert bodies[0] == bodies[1] != BLOB


def test_content_length_longer_than_the_body_is_an_incomplete_message(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    _script(proxy, Fault.wrong_length(+100))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/blob")


def test_content_length_shorter_than_the_body_silently_shortens_it(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    _script(proxy, Fault.wrong_length(-10))
    response = client.get("/blob")
    assert response.status_code == 200
    assert response.content == BLOB[:-10]
    assert response.headers["connection"] == "close"
    assert client.get("/blob").content == BLOB  # leftover bytes never reach a reuse


def test_policy_switches_at_run_time_and_match_limits_scope(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    assert client.get("/blob").status_code == 200
    proxy.set_policy(ScriptedPolicy([Fault.error(500)] * 2, match=lambda r: r.path == "/chunked"))
    assert client.get("/blob").status_code == 200
    assert client.get("/chunked").status_code == 500
    assert client.post("/echo", content=b"x").status_code == 200
    assert client.get("/chunked").status_code == 500
    assert client.get("/chunked").status_code == 200
    kinds = [r.fault for r in proxy.records()]
    assert kinds.count(FaultKind.ERROR) == 2
    assert proxy.stats().by_fault[FaultKind.PASS] == 4


def test_random_policy_is_deterministic_by_seed() -> None:
    weights = {Fault.error(503): 0.3, Fault.drop(): 0.2}

    def run() -> list[FaultKind]:
        policy = RandomPolicy(weights, seed=123)
        return [policy.decide(RequestInfo(i, "GET", "/", {})).kind for i in range(200)]

    first = run()
    assert first == run()
    assert 40 <= first.count(FaultKind.ERROR) <= 80
    assert 20 <= first.count(FaultKind.DROP) <= 60


def test_bad_fault_parameters_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="fraction"):
        Fault.truncate(fraction=1.5)
    with pytest.raises(ValueError, match="5xx"):
        Fault.error(404)
    with pytest.raises(ValueError, match="more than 1"):
        RandomPolicy({Fault.drop(): 0.7, Fault.error(): 0.6})


def test_request_rate_window_counts_requests(proxy: FaultProxy, client: httpx.Client) -> None:
    for _ in range(5):
        client.get("/blob")
    time.sleep(0.3)
    client.get("/chunked")
    assert proxy.max_requests_in_window(60.0) == 6
    assert proxy.max_requests_in_window(0.2) == 5
    assert proxy.max_requests_in_window(60.0, match=lambda r: r.path == "/chunked") == 1
    proxy.reset_stats()
    assert proxy.stats().requests_total == 0


def test_close_stops_listening(upstream: _Upstream) -> None:
    p = FaultProxy("127.0.0.1", upstream.server_address[1])
    with httpx.Client(base_url=p.url, timeout=2.0) as c:
        assert c.get("/blob").status_code == 200
        p.close()
        with pytest.raises(httpx.TransportError):
            c.get("/blob", headers={"Connection": "close"})


_FAULTS = st.sampled_from(
    [
        Fault.passthrough(),
        Fault.drop(),
        Fault.reset(),
        Fault.error(500),
        Fault.rate_limit(1),
        Fault.truncate(),
        Fault.corrupt(flips=2),
        Fault.wrong_length(50),
    ]
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(faults=st.lists(_FAULTS, min_size=1, max_size=6))
def test_any_fault_sequence_has_its_expected_outcome_in_order(
    proxy: FaultProxy, client: httpx.Client, faults: list[Fault]
) -> None:
    proxy.reset_stats()
    _script(proxy, *faults)
    for fault in faults:
        try:
            response = client.get("/blob")
        except httpx.TransportError:
            assert fault.kind in (
                FaultKind.DROP,
                FaultKind.RESET,
                FaultKind.TRUNCATE,
                FaultKind.WRONG_LENGTH,
            )
            continue
        if fault.kind is FaultKind.PASS:
            assert response.content == BLOB
        elif fault.kind is FaultKind.CORRUPT:
            assert response.status_code == 200
            assert len(response.content) == len(BLOB)
            assert response.content != BLOB
        else:
            assert response.status_code == fault.status, fault
    assert client.get("/blob").content == BLOB
    assert proxy.stats().requests_total == len(faults) + 1
    assert [r.fault for r in proxy.records()][:-1] == [f.kind for f in faults]
