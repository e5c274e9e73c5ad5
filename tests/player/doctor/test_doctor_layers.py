"""The doctor on the player's real layers: the read-only store on a real SQLite
file, ``ControlApiClient`` against the real control API on loopback."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from player import doctor
from player.adapters.http_api import ControlApiClient
from player.credentials import Credentials, save_credentials
from player.doctor import Check, DoctorProbes
from player.errors import ApiUnavailable
from player.settings import Settings
from player.store.read_only import SCHEMA_HEAD, connect_read_only, read_integrity
from player.store.repository import PlayerStore
from tests.player.runtime.realapi import real_api


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def side_files(db_path: Path) -> set[str]:
    return {p.name for p in db_path.parent.iterdir() if p.name.startswith(db_path.name + "-")}


# --- the read-only store --------------------------------------------------------------


def test_read_integrity_on_a_real_database(settings: Settings) -> None:
    with PlayerStore.open(settings.db_path):
        pass
    before = side_files(settings.db_path)
    conn = connect_read_only(settings.db_path)
    try:
        integrity = read_integrity(conn)
    finally:
        conn.close()
    assert integrity.quick_check == "ok"
    assert integrity.revisions == {SCHEMA_HEAD}
    assert integrity.at_head
    assert side_files(settings.db_path) == before  # no -wal/-shm left behind


def test_read_integrity_reads_an_old_revision_without_migrating(settings: Settings) -> None:
    with PlayerStore.open(settings.db_path):
        pass
    with sqlite3.connect(settings.db_path) as writer:
        writer.execute("UPDATE alembic_version SET version_num = '0001'")
    writer.close()
    conn = connect_read_only(settings.db_path)
    try:
        integrity = read_integrity(conn)
    finally:
        conn.close()
    assert (integrity.revisions, integrity.at_head) == ({"0001"}, False)
    check = doctor.check_database(settings)
    assert check.summary == f"migrations at 0001, head is {SCHEMA_HEAD}"


def test_read_integrity_raises_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "player.db"
    path.write_bytes(b"not sqlite" * 100)
    conn = connect_read_only(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not a database"):
            read_integrity(conn)
    finally:
        conn.close()
    assert path.read_bytes() == b"not sqlite" * 100


# --- the API client's probe -------------------------------------------------------------


def test_probe_manifest_reads_status_and_date_but_never_the_body() -> None:
    served_at = datetime.now(UTC) + timedelta(seconds=90)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        assert request.headers["User-Agent"] == "lomuz-player doctor"
        assert request.url.params["since"] == "c-1"
        date = format_datetime(served_at, usegmt=True)
        return httpx.Response(200, headers={"Date": date}, stream=UnreadableBody())

    with ControlApiClient(
        "https://api.test/base",
        "tok",
        transport=httpx.MockTransport(handler),
        user_agent="lomuz-player doctor",
    ) as client:
        probe = client.probe_manifest("c-1")
    assert probe.status_code == 200
    assert probe.request == "GET https://api.test/base/v1/device/manifest"
    assert probe.server_time is not None
    assert abs(probe.server_time.offset_s(probe.received_at) - 90) < 2


class UnreadableBody(httpx.SyncByteStream):
    """A manifest body that fails the test when anyone reads it (a full one is megabytes)."""

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("the probe read the body")


def test_probe_manifest_network_error_names_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ControlApiClient("https://api.test", "tok", transport=httpx.MockTransport(refuse))
    with client, pytest.raises(ApiUnavailable) as caught:
        client.probe_manifest(None)
    assert str(caught.value) == (
        "GET https://api.test/v1/device/manifest: ConnectError: connection refused"
    )


# --- the whole api check against the real control API --------------------------------


def test_doctor_against_the_real_api_on_loopback(
    tmp_path: Path, settings: Settings, probes: DoctorProbes
) -> None:
    real = replace(probes, http_transport=None)  # the real network, on loopback
    with real_api(tmp_path / "api") as api:
        device_id, token = api.device()
        save_credentials(settings.credentials_path, Credentials(api.url, device_id, token))
        checks = by_name(doctor.check_api(settings, real))
        assert checks["api"] == Check("api", "pass", "token ok (HTTP 200)")
        assert checks["clock"].status == "pass"  # same machine, same clock
        assert abs(float(checks["clock"].details[0].split()[1])) < 2

        save_credentials(settings.credentials_path, Credentials(api.url, device_id, "x" * 43))
        refused = by_name(doctor.check_api(settings, real))["api"]
        assert (refused.status, refused.summary) == ("fail", "token refused (HTTP 401)")
