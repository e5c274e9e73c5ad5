"""ControlApiClient: endpoints, error mapping and the retry policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from player.adapters.http_api import ApiTimeouts, ControlApiClient, parse_retry_after
from player.adapters.retry import call_with_retry, with_retry
from player.core.backoff import RetryPolicy
from player.core.clock import ServerTime
from player.errors import ApiProtocolError, ApiUnavailable, AuthError, EnrollmentError
from tests.player.adapters.conftest import (
    FakeApiServer,
    FakeSleep,
    constant_random,
    json_response,
)

BASE = "https://api.test/base"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """An httpx.MockTransport handler that answers from a script and records requests."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def make_client() -> Iterator[Callable[[Recorder], ControlApiClient]]:
    clients: list[ControlApiClient] = []

    def make(recorder: Recorder, token: str | None = "tok") -> ControlApiClient:
        client = ControlApiClient(BASE, token, transport=httpx.MockTransport(recorder))
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def ok_json(body: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# -- enroll ---------------------------------------------------------------------


def test_enroll_sends_the_code_without_a_token_and_returns_credentials(make_client) -> None:
    rec = Recorder(ok_json({"device_id": "d1", "device_token": "secret"}, 201))
    client = make_client(rec, token=None)

    enrollment = client.enroll(" ABC-123 ", {"model": "pi4"})

    assert (enrollment.device_id, enrollment.device_token) == ("d1", "secret")
    request = rec.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/base/v1/enroll"
    assert json.loads(request.content) == {
        "enrollment_code": "ABC-123",
        "hardware": {"model": "pi4"},
    }
    assert "authorization" not in request.headers


def test_refused_enrollment_code_raises_enrollment_error(make_client) -> None:
    rec = Recorder(ok_json({"error": {"code": "bad_code", "message": "used"}}, 401))

    with pytest.raises(EnrollmentError, match="bad_code"):
        make_client(rec).enroll("X")


def test_enrollment_response_without_token_is_a_protocol_error(make_client) -> None:
    with pytest.raises(ApiProtocolError, match="device_token"):
        make_client(Recorder(ok_json({"device_id": "d1"}, 201))).enroll("X")


def test_empty_enrollment_code_is_refused_before_sending(make_client) -> None:
    rec = Recorder(ok_json({}, 201))
    with pytest.raises(EnrollmentError, match="empty"):
        make_client(rec).enroll("  ")
    assert rec.requests == []


# -- manifest ---------------------------------------------------------------------


def test_manifest_200_returns_raw_body_cursor_and_clock_sample(make_client) -> None:
    body = b'{"schema": 1}'
    rec = Recorder(
        httpx.Response(
            200,
            content=body,
            headers={
                "Content-Type": "application/json",
                "ETag": '"c42"',
                "Date": "Tue, 01 Dec 2026 09:00:00 GMT",
            },
        )
    )

    fetched = make_client(rec).fetch_manifest("c41")

    request = rec.requests[0]
    assert request.url.params["since"] == "c41"
    assert request.headers["authorization"] == "Bearer tok"
    assert not fetched.not_modified
    assert fetched.body == body
    assert fetched.cursor == "c42"
    assert fetched.server_date == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert fetched.round_trip_s >= 0
    offset = fetched.server_date_offset_s
    assert offset is not None
    # The one offset rule: the Date was stamped mid-flight, and has 1 s resolution (+0.5 s).
    local_mid = fetched.received_at.timestamp() - fetched.round_trip_s / 2
    assert offset == pytest.approx(fetched.server_date.timestamp() + 0.5 - local_mid)
    assert fetched.server_time == ServerTime(
        fetched.server_date, fetched.sent_monotonic_s, fetched.received_monotonic_s
    )


def test_manifest_304_is_not_modified_and_keeps_the_cursor(make_client) -> None:
    fetched = make_client(Recorder(httpx.Response(304))).fetch_manifest("c7")

    assert fetched.not_modified
    assert fetched.body is None
    assert fetched.cursor == "c7"


def test_a_fresh_manifest_request_asks_past_the_api_cache(make_client) -> None:
    """A sync on a push nudge: ``Cache-Control: no-cache``; a regular poll sends none."""
    rec = Recorder(httpx.Response(304), httpx.Response(304))
    client = make_client(rec)
    client.fetch_manifest("c7", fresh=True)
    client.fetch_manifest("c7")
    assert rec.requests[0].headers["cache-control"] == "no-cache"
    assert rec.requests[0].headers["authorization"] == "Bearer tok"
    assert "cache-control" not in rec.requests[1].headers


def test_first_manifest_request_has_no_since(make_client) -> None:
    rec = Recorder(httpx.Response(200, content=b"{}", headers={"Content-Type": "application/json"}))
    make_client(rec).fetch_manifest(None)
    assert "since" not in rec.requests[0].url.params


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401), AuthError),
        (httpx.Response(403), AuthError),
        (httpx.Response(503), ApiUnavailable),
        (httpx.Response(429, headers={"Retry-After": "12"}), ApiUnavailable),
        (httpx.Response(400), ApiProtocolError),
        (
            httpx.Response(200, content=b"<html>", headers={"Content-Type": "text/html"}),
            ApiProtocolError,
        ),
        (
            httpx.Response(200, content=b"", headers={"Content-Type": "application/json"}),
            ApiProtocolError,
        ),
        (httpx.Response(302, headers={"Location": "/elsewhere"}), ApiProtocolError),
        (httpx.ConnectError("refused"), ApiUnavailable),
        (httpx.ReadTimeout("slow"), ApiUnavailable),
    ],
)
def test_manifest_errors_map_onto_the_player_error_tree(
    make_client, response: httpx.Response | Exception, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        make_client(Recorder(response)).fetch_manifest("c1")
    if isinstance(response, httpx.Response) and response.status_code == 429:
        assert isinstance(info.value, ApiUnavailable)
        assert info.value.retry_after_s == 12.0
        assert info.value.retryable


def test_oversized_manifest_is_refused(make_client) -> None:
    rec = Recorder(
        httpx.Response(200, content=b"x" * 2000, headers={"Content-Type": "application/json"})
    )
    client = make_client(rec)
    client.max_manifest_bytes = 1000
    with pytest.raises(ApiProtocolError, match="exceeds"):
        client.fetch_manifest(None)


# -- telemetry and plays ------------------------------------------------------------


def test_post_telemetry_sends_the_status_object(make_client) -> None:
    rec = Recorder(httpx.Response(204))
    make_client(rec).post_telemetry({"cpu_percent": 3.5})
    assert json.loads(rec.requests[0].content) == {"cpu_percent": 3.5}
    assert rec.requests[0].url.path == "/base/v1/device/telemetry"


def test_post_plays_returns_the_acknowledgement(make_client) -> None:
    rec = Recorder(ok_json({"accepted": 2, "duplicates": 1}))
    plays = [{"id": str(i)} for i in range(3)]

    ack = make_client(rec).post_plays(plays)

    assert (ack.accepted, ack.duplicates) == (2, 1)
    assert json.loads(rec.requests[0].content) == {"plays": plays}


def test_post_plays_reads_the_plays_the_api_rejects(make_client) -> None:
    body = {"accepted": 1, "duplicates": 0, "rejected": [{"id": "2", "code": "unknown_asset"}]}
    ack = make_client(Recorder(ok_json(body))).post_plays([{"id": "1"}, {"id": "2"}])
    assert ack.rejected == (("2", "unknown_asset"),)


@pytest.mark.parametrize(
    "body",
    [
        {"accepted": "2", "duplicates": 0},
        {"accepted": 1},
        {"accepted": 5, "duplicates": 0},
        [1],
        {"accepted": 1, "duplicates": 0, "rejected": "x"},
        {"accepted": 1, "duplicates": 0, "rejected": [{"id": "2"}]},
        {"accepted": 1, "duplicates": 0, "rejected": [{"code": "a"}, {"code": "b"}]},
    ],
)
def test_unusable_plays_acknowledgement_is_a_protocol_error(make_client, body: object) -> None:
    with pytest.raises(ApiProtocolError):
        make_client(Recorder(ok_json(body))).post_plays([{"id": "1"}, {"id": "2"}])


def test_more_than_1000_plays_are_refused_before_sending(make_client) -> None:
    rec = Recorder(ok_json({"accepted": 0, "duplicates": 0}))
    with pytest.raises(ValueError, match="1000"):
        make_client(rec).post_plays([{"id": str(i)} for i in range(1001)])
    assert rec.requests == []


# -- URLs ------------------------------------------------------------------------------


def test_media_url_resolves_paths_on_the_base_and_keeps_absolute_urls(make_client) -> None:
    client = make_client(Recorder(httpx.Response(204)))
    assert client.media_url("/v1/media/ab") == "https://api.test/v1/media/ab"
    assert client.media_url("v1/media/ab") == "https://api.test/base/v1/media/ab"
    assert client.media_url("https://cdn.test/x") == "https://cdn.test/x"
    with pytest.raises(ValueError, match="http"):
        client.media_url("file:///etc/passwd")
    assert client.auth_headers_for("https://cdn.test/x") == {}
    assert client.auth_headers_for("https://API.test/v1/media/ab") == {
        "Authorization": "Bearer tok"
    }


def test_bad_base_url_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        ControlApiClient("api.test", None)


def test_timeouts_are_explicit() -> None:
    with ControlApiClient(BASE, None, timeout_s=ApiTimeouts(1, 2, 3, 4)) as client:
        t = client.http.timeout
        assert (t.connect, t.read, t.write, t.pool) == (1, 2, 3, 4)


# -- Retry-After and the retry policy --------------------------------------------------


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Tue, 01 Dec 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 01 Dec 2026 08:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None


def test_5xx_is_retried_with_backoff_then_succeeds(make_client) -> None:
    rec = Recorder(httpx.Response(502), httpx.Response(503), httpx.Response(204))
    client = make_client(rec)
    sleep = FakeSleep()

    call_with_retry(
        lambda: client.post_telemetry({}),
        RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=60),
        sleep=sleep,
        random=constant_random(1.0),
    )

    assert len(rec.requests) == 3
    assert sleep.calls == [1.0, 2.0]  # full jitter at its ceiling: base * 2**n


def test_429_retry_after_is_a_floor_on_the_delay(make_client) -> None:
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "9"}), httpx.Response(304))
    client = make_client(rec)
    sleep = FakeSleep()

    fetched = call_with_retry(
        lambda: client.fetch_manifest("c"),
        RetryPolicy(base_delay_s=1.0, max_delay_s=60),
        sleep=sleep,
        random=constant_random(0.5),
    )

    assert fetched.not_modified
    assert sleep.calls == [9.0]


def test_401_is_not_retried(make_client) -> None:
    rec = Recorder(httpx.Response(401))
    client = make_client(rec)
    sleep = FakeSleep()

    with pytest.raises(AuthError):
        call_with_retry(lambda: client.post_telemetry({}), RetryPolicy(), sleep=sleep)

    assert len(rec.requests) == 1
    assert sleep.calls == []


def test_attempts_are_bounded_and_the_last_error_propagates(make_client) -> None:
    rec = Recorder(httpx.ConnectError("down"))
    client = make_client(rec)
    sleep = FakeSleep()

    with pytest.raises(ApiUnavailable, match="ConnectError"):
        call_with_retry(lambda: client.post_telemetry({}), RetryPolicy(max_attempts=4), sleep=sleep)

    assert len(rec.requests) == 4
    assert len(sleep.calls) == 3


def test_total_retry_time_is_bounded(make_client) -> None:
    rec = Recorder(httpx.Response(503, headers={"Retry-After": "40"}))
    client = make_client(rec)
    sleep = FakeSleep()

    with pytest.raises(ApiUnavailable):
        call_with_retry(
            lambda: client.post_telemetry({}),
            RetryPolicy(max_attempts=100, max_total_s=100, max_delay_s=60),
            sleep=sleep,
        )

    assert sleep.calls == [40.0, 40.0]  # a third wait would pass 100 s
    assert len(rec.requests) == 3


def test_with_retry_decorator(make_client) -> None:
    rec = Recorder(httpx.Response(500), ok_json({"accepted": 1, "duplicates": 0}))
    client = make_client(rec)
    sleep = FakeSleep()

    @with_retry(RetryPolicy(), sleep=sleep, random=constant_random(0.0))
    def upload(plays: list[dict[str, str]]) -> int:
        return client.post_plays(plays).accepted

    assert upload([{"id": "1"}]) == 1
    assert sleep.calls == [0.0]


# -- real HTTP on loopback ------------------------------------------------------------


def test_client_against_a_real_loopback_server(api_server: FakeApiServer) -> None:
    api_server.script("/v1/enroll", json_response(201, {"device_id": "d9", "device_token": "t9"}))
    api_server.script(
        "/v1/device/manifest",
        json_response(503, {"error": {"code": "busy", "message": "later"}}, {"Retry-After": "3"}),
        (304, {"ETag": '"c5"'}, b""),
    )
    sleep = FakeSleep()
    with ControlApiClient(api_server.base_url, None) as client:
        enrollment = client.enroll("CODE")
        client.set_token(enrollment.device_token)
        fetched = call_with_retry(
            lambda: client.fetch_manifest("c5"),
            RetryPolicy(),
            sleep=sleep,
            random=constant_random(0),
        )

    assert fetched.not_modified
    assert fetched.cursor == "c5"
    assert sleep.calls == [3.0]
    manifest_requests = [r for r in api_server.requests if r.path.startswith("/v1/device/manifest")]
    assert manifest_requests[-1].path == "/v1/device/manifest?since=c5"
    assert manifest_requests[-1].headers["authorization"] == "Bearer t9"
    assert "authorization" not in api_server.requests[0].headers


# -- plain http off loopback (issue 10) ------------------------------------------------


def test_plain_http_off_loopback_sends_nothing_and_says_how_to_fix_it() -> None:
    from player.errors import ConfigError

    recorder = Recorder(ok_json({"accepted": 0, "duplicates": 0}))
    with ControlApiClient(
        "http://api.lan:8080", "tok", transport=httpx.MockTransport(recorder)
    ) as client:
        assert client.insecure_problem is not None
        for call in (
            lambda: client.fetch_manifest(None),
            lambda: client.post_telemetry({}),
            lambda: client.post_plays([]),
            lambda: client.enroll("ABC"),
        ):
            with pytest.raises(ConfigError) as info:
                call()
            text = str(info.value)
            assert text.startswith("api url http://api.lan:8080: must use https://")
            assert "allow_insecure_http = true" in text and "enroll again" in text
            assert not info.value.retryable
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("base", "allow"),
    [
        ("http://127.0.0.1:8080", False),
        ("http://[::1]:8080", False),
        ("http://api.lan:8080", True),
        ("https://api.lan", False),
    ],
)
def test_loopback_https_or_the_opt_in_send(base: str, allow: bool) -> None:
    recorder = Recorder(httpx.Response(204))
    with ControlApiClient(
        base, "tok", allow_insecure_http=allow, transport=httpx.MockTransport(recorder)
    ) as client:
        assert client.insecure_problem is None
        client.post_telemetry({})
    assert len(recorder.requests) == 1
