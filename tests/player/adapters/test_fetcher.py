"""Fetcher against a real HTTP server on loopback: resume, restarts, integrity, errors."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator

import httpx
import pytest

from player.adapters.fetcher import Fetcher
from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.adapters.retry import call_with_retry
from player.core.backoff import RetryPolicy
from player.errors import AuthError, DownloadError, IntegrityError
from tests.player.adapters.conftest import FakeApiServer, FakeSleep, constant_random

CONTENT = os.urandom(300_000)
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def fetcher(http: httpx.Client, cache: MediaCache) -> Fetcher:
    return Fetcher(http, cache, chunk_bytes=16 * 1024)


def nothing_stored(cache: MediaCache, sha: str) -> bool:
    return not cache.has(sha) and not cache.part_path(sha).exists()


def test_fetch_stores_a_verified_file_and_reports_progress(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    progress: list[tuple[int, int]] = []

    result = fetcher.fetch(
        api_server.media_url(sha), sha, len(CONTENT), lambda n, t: progress.append((n, t))
    )

    assert result.path == cache.path_for(sha)
    assert result.path.read_bytes() == CONTENT
    assert (result.transferred_bytes, result.resumed, result.already_cached) == (
        len(CONTENT),
        False,
        False,
    )
    assert cache.verify(sha)
    assert not cache.part_path(sha).exists()
    assert progress[-1] == (len(CONTENT), len(CONTENT))
    assert [n for n, _ in progress] == sorted(n for n, _ in progress)


def test_already_cached_file_is_not_downloaded_again(
    api_server: FakeApiServer, fetcher: Fetcher
) -> None:
    sha = api_server.add_file(CONTENT)
    fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    again = fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    assert again.already_cached
    assert len(api_server.media_requests()) == 1


def test_cut_connection_keeps_the_part_and_the_next_fetch_resumes_with_range(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    api_server.media.cut_after_bytes = 100_000
    api_server.media.cuts_left = 1

    with pytest.raises(DownloadError) as info:
        fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))
    assert info.value.retryable
    assert not cache.has(sha)
    kept = cache.part_path(sha).stat().st_size
    assert 0 < kept <= 100_000

    result = fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    second = api_server.media_requests()[-1]
    assert second.headers["range"] == f"bytes={kept}-"
    assert second.headers["if-range"] == f'"{sha}"'
    assert result.resumed
    assert result.transferred_bytes == len(CONTENT) - kept
    assert cache.path_for(sha).read_bytes() == CONTENT


def test_server_ignoring_range_restarts_cleanly(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    cache.ensure_dirs()
    cache.part_path(sha).write_bytes(CONTENT[:50_000])
    api_server.media.honour_range = False

    result = fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    assert api_server.media_requests()[-1].headers["range"] == "bytes=50000-"
    assert not result.resumed
    assert result.transferred_bytes == len(CONTENT)
    assert cache.path_for(sha).read_bytes() == CONTENT


def test_if_range_mismatch_gets_the_whole_file_and_replaces_a_stale_part(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    cache.ensure_dirs()
    cache.part_path(sha).write_bytes(b"stale bytes of something else")
    api_server.media.etag_override = '"another-version"'

    result = fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    assert not result.resumed
    assert cache.path_for(sha).read_bytes() == CONTENT


def test_a_corrupt_part_resumed_by_the_server_is_caught_and_discarded(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    cache.ensure_dirs()
    cache.part_path(sha).write_bytes(b"\x00" * 1000)  # right length, wrong bytes

    with pytest.raises(IntegrityError):
        fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    assert nothing_stored(cache, sha)


def test_corrupted_body_raises_integrity_error_and_stores_nothing(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    api_server.media.corrupt = True

    with pytest.raises(IntegrityError, match="sha256"):
        fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    assert nothing_stored(cache, sha)
    assert cache.usage().files == 0


@pytest.mark.parametrize("expected_size", [len(CONTENT) - 1, len(CONTENT) + 1])
def test_wrong_size_raises_integrity_error_and_stores_nothing(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache, expected_size: int
) -> None:
    sha = api_server.add_file(CONTENT)

    with pytest.raises(IntegrityError, match="bytes"):
        fetcher.fetch(api_server.media_url(sha), sha, expected_size)

    assert nothing_stored(cache, sha)


def test_a_complete_part_left_by_a_crash_is_committed_without_the_network(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    cache.ensure_dirs()
    cache.part_path(SHA).write_bytes(CONTENT)

    result = fetcher.fetch(api_server.media_url(SHA), SHA, len(CONTENT))

    assert api_server.media_requests() == []
    assert cache.path_for(SHA).read_bytes() == CONTENT
    assert result.transferred_bytes == 0


def test_206_starting_at_the_wrong_offset_restarts_from_zero(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    cache.ensure_dirs()
    cache.part_path(sha).write_bytes(CONTENT[:1000])
    api_server.media.range_start_shift = 5

    result = fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))

    assert "range" not in api_server.media_requests()[-1].headers
    assert cache.path_for(sha).read_bytes() == CONTENT
    assert not result.resumed


def test_404_is_not_retryable_and_stores_nothing(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        fetcher.fetch(api_server.media_url(SHA), SHA, len(CONTENT))

    assert not info.value.retryable
    assert nothing_stored(cache, SHA)


def test_401_raises_auth_error(api_server: FakeApiServer, fetcher: Fetcher) -> None:
    sha = api_server.add_file(CONTENT)
    api_server.media.status = 401

    with pytest.raises(AuthError):
        fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT))


def test_429_retry_after_is_honoured_by_the_retry_policy(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    api_server.media.statuses = [429]
    api_server.media.retry_after = "7"
    sleep = FakeSleep()

    result = call_with_retry(
        lambda: fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT)),
        RetryPolicy(max_attempts=3, base_delay_s=0.5, max_delay_s=60),
        sleep=sleep,
        random=constant_random(0.0),
    )

    assert sleep.calls == [7.0]
    assert result.path.read_bytes() == CONTENT


def test_cancel_stops_between_chunks_and_keeps_the_part(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache
) -> None:
    sha = api_server.add_file(CONTENT)
    cancel = threading.Event()

    def on_progress(done: int, total: int) -> None:
        if done >= 32 * 1024:
            cancel.set()

    with pytest.raises(DownloadError, match="cancelled") as info:
        fetcher.fetch(api_server.media_url(sha), sha, len(CONTENT), on_progress, cancel=cancel)

    assert info.value.retryable
    assert not cache.has(sha)
    assert 0 < cache.part_path(sha).stat().st_size < len(CONTENT)


@pytest.mark.parametrize("bad", ["../../etc/passwd", SHA.upper(), SHA[:-1], SHA + "0"])
def test_invalid_sha256_never_becomes_a_path(
    api_server: FakeApiServer, fetcher: Fetcher, cache: MediaCache, bad: str
) -> None:
    with pytest.raises(ValueError, match="sha256"):
        fetcher.fetch(api_server.media_url(SHA), bad, 10)

    assert api_server.media_requests() == []
    assert not cache.root.exists()


def test_token_goes_to_the_api_origin_only(api_server: FakeApiServer, cache: MediaCache) -> None:
    other = FakeApiServer()
    other.start()
    try:
        sha = api_server.add_file(CONTENT)
        small = b"elsewhere"
        other_sha = other.add_file(small)
        with ControlApiClient(
            api_server.base_url, "secret-token", media_origins=[other.base_url]
        ) as client:
            fetcher = Fetcher(client, cache)
            fetcher.fetch(f"/v1/media/{sha}", sha, len(CONTENT))  # relative: on the API
            fetcher.fetch(other.media_url(other_sha), other_sha, len(small))
        assert api_server.media_requests()[0].headers["authorization"] == "Bearer secret-token"
        assert "authorization" not in other.media_requests()[0].headers
        assert cache.path_for(other_sha).read_bytes() == small
    finally:
        other.stop()


# -- media origins (issue 10) ------------------------------------------------------


def test_media_on_an_origin_not_configured_is_refused_before_any_request(
    api_server: FakeApiServer, cache: MediaCache
) -> None:
    other = FakeApiServer()
    other.start()
    try:
        other_sha = other.add_file(b"elsewhere")
        with (
            ControlApiClient(api_server.base_url, "secret-token") as client,
            pytest.raises(DownloadError) as info,
        ):
            Fetcher(client, cache).fetch(other.media_url(other_sha), other_sha, 9)
        assert not info.value.retryable
        text = str(info.value)
        assert f"not fetched: {other.media_url(other_sha)}: its origin {other.base_url}" in text
        assert "[api] media_origins" in text and api_server.base_url in text
        assert other.requests == []
        assert nothing_stored(cache, other_sha)
    finally:
        other.stop()


def test_an_origin_differs_by_scheme_host_or_port(
    api_server: FakeApiServer, cache: MediaCache
) -> None:
    port = api_server.base_url.rsplit(":", 1)[1]
    with ControlApiClient(
        api_server.base_url, None, media_origins=["https://cdn.example"]
    ) as client:
        fetcher = Fetcher(client, cache)
        for url in (
            f"https://127.0.0.1:{port}/v1/media/{SHA}",
            f"http://127.0.0.2:{port}/v1/media/{SHA}",
            f"http://127.0.0.1:{int(port) + 1}/v1/media/{SHA}",
            f"http://cdn.example/v1/media/{SHA}",
            f"https://cdn.example:8443/v1/media/{SHA}",
        ):
            with pytest.raises(DownloadError, match="neither the API's nor in"):
                fetcher.fetch(url, SHA, len(CONTENT))
    assert api_server.requests == []


def test_a_redirect_is_never_followed_even_by_a_client_that_would(
    api_server: FakeApiServer, cache: MediaCache
) -> None:
    other = FakeApiServer()
    other.start()
    try:
        other_sha = other.add_file(b"elsewhere")
        api_server.script("/files/x", (302, {"Location": other.media_url(other_sha)}, b""))
        with (
            ControlApiClient(
                api_server.base_url, "secret-token", media_origins=[other.base_url]
            ) as client,
            pytest.raises(DownloadError, match=r"HTTP 302 redirect to .* not followed"),
        ):
            Fetcher(client, cache).fetch("/files/x", other_sha, 9)
        with (
            httpx.Client(follow_redirects=True, timeout=5.0) as plain,
            pytest.raises(DownloadError, match="not followed"),
        ):
            Fetcher(plain, cache).fetch(f"{api_server.base_url}/files/x", other_sha, 9)
        assert other.requests == []
        assert nothing_stored(cache, other_sha)
    finally:
        other.stop()


def test_media_from_an_api_on_plain_http_off_loopback_is_refused(cache: MediaCache) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=CONTENT)

    with (
        ControlApiClient(
            "http://api.lan:8080", "secret-token", transport=httpx.MockTransport(record)
        ) as client,
        pytest.raises(DownloadError, match="allow_insecure_http") as info,
    ):
        Fetcher(client, cache).fetch(f"/v1/media/{SHA}", SHA, len(CONTENT))
    assert "must use https://" in str(info.value)
    assert sent == []
    with ControlApiClient(
        "http://api.lan:8080",
        "secret-token",
        allow_insecure_http=True,
        transport=httpx.MockTransport(record),
    ) as client:
        Fetcher(client, cache).fetch(f"/v1/media/{SHA}", SHA, len(CONTENT))
    assert len(sent) == 1 and cache.has(SHA)
