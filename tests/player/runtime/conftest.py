"""Fixtures for the runtime tests: a real SQLite store, a real media cache and
loopback servers, all closed at teardown (ResourceWarning is an error)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from player.adapters.http_api import ControlApiClient
from player.adapters.media_cache import MediaCache
from player.store.repository import PlayerStore
from tests.fakes.clock import FakeClock
from tests.player.runtime.helpers import T0, Script, ScriptedServer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PlayerStore]:
    opened = PlayerStore.open(tmp_path / "player.db")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def cache(tmp_path: Path) -> MediaCache:
    media = MediaCache(tmp_path / "media")
    media.ensure_dirs()
    return media


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0, real_monotonic=True)


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    """``serve(script)`` starts a scripted loopback server, stopped at teardown."""
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def api_client() -> Iterator[Callable[[str], ControlApiClient]]:
    """``api_client(url)``: a device client for ``url`` with a test token, closed at teardown."""
    clients: list[ControlApiClient] = []

    def make(url: str, token: str = "device-token") -> ControlApiClient:
        client = ControlApiClient(url, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
