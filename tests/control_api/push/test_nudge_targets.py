"""Which devices a change nudges, through the real app and store, with a recording
publisher in place of the broker (the MQTT adapter has its own tests)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from control_api.app import create_app
from control_api.settings import load_settings
from control_api.store import push_targets
from control_api.store.db import Database
from control_api.store.models import Device, Tenant
from lomuz_rules.push import cursor_revision
from tests.control_api.conftest import Api
from tests.control_api.media_samples import wav
from tests.control_api.openapi_check import CheckedClient


class RecordingPublisher:
    """Records each publish call; ``up`` False drops everything, like a broker that is down."""

    def __init__(self, *, up: bool = True) -> None:
        self.up = up
        self.calls: list[tuple[tuple[str, ...], int]] = []
        self.commands: list[tuple[str, bytes]] = []
        self.started = self.stopped = False
        self.forgotten: list[str] = []
        self.failures_left = 0  # publish calls that raise, as a lookup during a failover would
        self._lock = threading.Lock()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def publish(self, device_ids: Sequence[str], revision: int) -> int:
        with self._lock:
            if self.failures_left:
                self.failures_left -= 1
                raise RuntimeError("database went away")
            self.calls.append((tuple(device_ids), revision))
        return len(device_ids) if self.up else 0

    def publish_command(self, device_id: str, payload: bytes) -> bool:
        with self._lock:
            self.commands.append((device_id, payload))
        return self.up

    def forget_device(self, device_id: str) -> None:
        with self._lock:
            self.forgotten.append(device_id)

    def take(self) -> list[tuple[tuple[str, ...], int]]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


class PushApi:
    def __init__(self, api: Api, publisher: RecordingPublisher) -> None:
        self.api = api
        self.publisher = publisher
        nudger = api.app.nudger  # type: ignore[attr-defined]
        assert nudger is not None
        self._nudger = nudger

    def nudged(self) -> set[str]:
        """Every device nudged since the last call (after the nudger caught up)."""
        assert self._nudger.wait_idle(10)
        return {d for ids, _ in self.publisher.take() for d in ids}


@pytest.fixture
def push(settings_env: dict[str, str]) -> Iterator[PushApi]:
    settings = load_settings(settings_env)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    publisher = RecordingPublisher()
    app = create_app(settings, publisher=publisher)
    try:
        yield PushApi(Api(CheckedClient(app), app, app.deps.db), publisher)
    finally:
        app.close()
    assert publisher.started and publisher.stopped


def _devices(api: Api, admin: str, groups: Sequence[Sequence[str]]) -> list[str]:
    ids = []
    for i, g in enumerate(groups):
        created = api.call("POST", "/v1/devices", admin, json={"name": f"d{i}", "groups": list(g)})
        assert created.status_code == 201, created.text
        ids.append(created.json["id"])
    return ids


def _playlist(api: Api, admin: str, asset_ids: Sequence[str] = ()) -> str:
    made = api.call(
        "POST",
        "/v1/playlists",
        admin,
        json={"name": "p", "items": [{"asset_id": a} for a in asset_ids]},
    )
    assert made.status_code == 201, made.text
    return str(made.json["id"])


def _schedule(api: Api, admin: str, playlist_id: str, target: dict[str, Any]) -> dict[str, Any]:
    made = api.call(
        "POST", "/v1/schedules", admin, json={"playlist_id": playlist_id, "target": target}
    )
    assert made.status_code == 201, made.text
    return dict(made.json)


def test_group_schedule_nudges_exactly_that_group(push: PushApi) -> None:
    api = push.api
    admin = api.tenant()
    north1, north2, south, loner = _devices(api, admin, [["north"], ["north", "x"], ["south"], []])
    pid = _playlist(api, admin)
    assert push.nudged() == set()  # devices and an unscheduled playlist touch no view
    schedule = _schedule(api, admin, pid, {"group": "north"})
    assert push.nudged() == {north1, north2}
    # Retargeted from north to south: both groups' views changed.
    moved = api.call(
        "PUT",
        f"/v1/schedules/{schedule['id']}",
        admin,
        json={"playlist_id": pid, "target": {"group": "south"}},
    )
    assert moved.status_code == 200, moved.text
    assert push.nudged() == {north1, north2, south}
    assert loner not in push.nudged()


def test_a_failed_fan_out_is_retried_not_lost(push: PushApi) -> None:
    api = push.api
    admin = api.tenant()
    (north,) = _devices(api, admin, [["north"]])
    push.publisher.failures_left = 1
    _schedule(api, admin, _playlist(api, admin), {"group": "north"})
    assert push.nudged() == {north}  # after one failure and the retry pause


def test_nudge_carries_the_revision_the_manifest_cursor_names(push: PushApi) -> None:
    api = push.api
    admin = api.tenant()
    created = api.call("POST", "/v1/devices", admin, json={"name": "b"}).json
    enrolled = api.call("POST", "/v1/enroll", json={"enrollment_code": created["enrollment_code"]})
    token = enrolled.json["device_token"]
    _schedule(api, admin, _playlist(api, admin), {"device_id": created["id"]})
    assert push.api.app.nudger.wait_idle(10)  # type: ignore[attr-defined]
    # One call, or two when the playlist's commit was read after the schedule's.
    calls = push.publisher.take()
    assert calls and {ids for ids, _ in calls} == {(created["id"],)}
    cursor = api.call("GET", "/v1/device/manifest", token).json["cursor"]
    assert cursor_revision(cursor) == max(revision for _, revision in calls)


def test_all_target_nudges_every_device_of_the_tenant_and_none_of_another(push: PushApi) -> None:
    api = push.api
    admin, other = api.tenant("a"), api.tenant("b")
    mine = set(_devices(api, admin, [["g"], [], ["h"]]))
    theirs = set(_devices(api, other, [["g"], []]))
    _schedule(api, admin, _playlist(api, admin), {"all": True})
    nudged = push.nudged()
    assert nudged == mine
    assert not nudged & theirs


def test_content_edits_nudge_the_devices_that_use_it(push: PushApi) -> None:
    api = push.api
    admin = api.tenant()
    north, south = _devices(api, admin, [["north"], ["south"]])
    song = api.upload(admin, wav(b"song")).json["id"]
    spare = api.upload(admin, wav(b"spare")).json["id"]
    pid = _playlist(api, admin, [song])
    _schedule(api, admin, pid, {"group": "north"})
    push.nudged()

    assert api.call("PATCH", f"/v1/assets/{spare}", admin, json={"title": "t"}).status_code == 200
    assert push.nudged() == set()  # in no playlist
    assert api.call("PATCH", f"/v1/assets/{song}", admin, json={"title": "t"}).status_code == 200
    assert push.nudged() == {north}
    edited = api.call(
        "PUT", f"/v1/playlists/{pid}", admin, json={"name": "q", "items": [{"asset_id": spare}]}
    )
    assert edited.status_code == 200, edited.text
    assert push.nudged() == {north}
    # An emergency asset is in every device's view, and so is one that stops being one.
    flagged = api.call("PATCH", f"/v1/assets/{song}", admin, json={"emergency": True})
    assert flagged.status_code == 200, flagged.text
    assert push.nudged() == {north, south}
    api.call("PATCH", f"/v1/assets/{song}", admin, json={"emergency": False})
    assert push.nudged() == {north, south}
    # A device's own edit (its groups, so its view) nudges it alone.
    regrouped = api.call("PATCH", f"/v1/devices/{south}", admin, json={"groups": ["north"]})
    assert regrouped.status_code == 200, regrouped.text
    assert push.nudged() == {south}


def test_a_publisher_that_is_down_never_fails_a_request_and_drops_are_counted(
    settings_env: dict[str, str],
) -> None:
    settings = load_settings(settings_env)
    migrator = Database(settings.database_url)
    migrator.upgrade()
    migrator.dispose()
    publisher = RecordingPublisher(up=False)
    app = create_app(settings, publisher=publisher)
    try:
        api = Api(CheckedClient(app), app, app.deps.db)
        admin = api.tenant()
        _devices(api, admin, [[], []])
        _schedule(api, admin, _playlist(api, admin), {"all": True})
        assert app.nudger is not None and app.nudger.wait_idle(10)
        metrics = api.call(
            "GET", "/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"}
        )
        # Two devices, each dropped at least once (a range split over two rounds of
        # the nudger nudges a device twice: harmless, so not excluded here).
        dropped = re.search(r'lomuz_push_nudges_total\{outcome="dropped"\} (\S+)', metrics.text)
        assert dropped is not None and float(dropped.group(1)) >= 2.0, metrics.text
        assert 'lomuz_push_nudges_total{outcome="sent"} 0.0' in metrics.text
    finally:
        app.close()


def test_without_a_broker_url_no_nudger_runs(api: Api) -> None:
    assert api.app.nudger is None  # type: ignore[attr-defined]


def test_fan_out_to_a_large_tenant_is_a_few_queries(push: PushApi) -> None:
    api = push.api
    admin = api.tenant()
    now = datetime.now(UTC)
    with api.db.write() as s:
        tid = s.get(Device, _devices(api, admin, [[]])[0]).tenant_id  # type: ignore[union-attr]
        for i in range(2000):
            s.add(
                Device(
                    id=f"dev_bulk{i:05d}_{tid[-6:]}",
                    tenant_id=tid,
                    name=f"b{i}",
                    timezone="UTC",
                    groups=["many"] if i % 2 else [],
                    created_at=now,
                    updated_at=now,
                )
            )
    _schedule(api, admin, _playlist(api, admin), {"group": "many"})
    assert push.nudged() >= set()  # the nudger's own queries are done
    statements: list[str] = []
    me = threading.get_ident()

    def count(*args: Any) -> None:
        if threading.get_ident() == me:
            statements.append(args[2])

    event.listen(api.db.engine, "before_cursor_execute", count)
    with api.db.read() as s:
        revision = s.scalar(select(Tenant.revision).where(Tenant.id == tid))
        assert revision is not None
        statements.clear()
        roots = push_targets.changed_roots(s, tid, 0, revision)
        devices = push_targets.devices_of(s, tid, roots)
    assert len(devices) == 1000
    assert len(statements) <= 6, statements


def test_settings_refuse_a_bad_broker_url(settings_env: dict[str, str]) -> None:
    from control_api.errors import ConfigError

    for bad in ("http://broker", "mqtt://", "mqtt://host:99999", "mqtt://h/path"):
        with pytest.raises(ConfigError, match="LOMUZ_MQTT_URL"):
            load_settings({**settings_env, "LOMUZ_MQTT_URL": bad})
    ok = load_settings({**settings_env, "LOMUZ_MQTT_URL": "mqtts://u:p%40ss@broker.example"})
    assert ok.mqtt_url is not None and "p%40ss" not in repr(ok)
    assert replace(ok, mqtt_url=None).mqtt_url is None


def test_settings_take_a_broker_ca_file_only_as_a_readable_absolute_path(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    from control_api.errors import ConfigError

    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    assert load_settings({**settings_env}).mqtt_ca_file is None
    taken = load_settings({**settings_env, "LOMUZ_MQTT_CA_FILE": str(ca_file)})
    assert taken.mqtt_ca_file == str(ca_file)
    for bad, fragment in (("ca.pem", "absolute"), (str(tmp_path / "gone.pem"), "readable")):
        with pytest.raises(ConfigError, match="LOMUZ_MQTT_CA_FILE") as info:
            load_settings({**settings_env, "LOMUZ_MQTT_CA_FILE": bad})
        assert fragment in str(info.value)
