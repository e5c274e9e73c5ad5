"""RemoteCommands with recording fakes: each id runs once (across a restart too), an
expired command never runs, refusals and failures are reported, and hostile messages
on the commands topic never raise, never run anything and never stall the worker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lomuz_rules.commands import CommandMessage, encode_command
from player.core import commands as rules
from player.errors import ApiProtocolError, ApiUnavailable
from player.runtime.commands import CommandError, RemoteCommands

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class FakeActions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.fail_with: Exception | None = None

    def _do(self, name: str, arg: object = None) -> dict[str, Any]:
        self.calls.append((name, arg))
        if self.fail_with is not None:
            raise self.fail_with
        return {"did": name}

    def sync(self) -> dict[str, Any]:
        return self._do("sync")

    def skip(self) -> dict[str, Any]:
        return self._do("skip")

    def set_volume(self, percent: int) -> dict[str, Any]:
        return self._do("volume", percent)

    def restart_playback(self) -> dict[str, Any]:
        return self._do("restart_playback")

    def snapshot(self) -> dict[str, Any]:
        return self._do("snapshot")


class FakeApi:
    """The API's side: open commands to list, acknowledgements recorded (or refused)."""

    def __init__(self) -> None:
        self.open: list[object] = []
        self.acks: list[tuple[str, str, Mapping[str, Any] | None]] = []
        self.refuse: set[str] = set()
        self.unreachable = False
        self.cond = threading.Condition()

    def fetch_open(self) -> list[object]:
        return list(self.open)

    def acknowledge(self, command_id: str, state: str, result: Mapping[str, Any] | None) -> None:
        if command_id in self.refuse:
            raise ApiProtocolError("HTTP 409 command_expired", 409)
        if self.unreachable:
            raise ApiUnavailable("connection refused")
        with self.cond:
            self.acks.append((command_id, state, result))
            self.cond.notify_all()

    def wait_acks(self, n: int) -> list[tuple[str, str, Mapping[str, Any] | None]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.acks) >= n, timeout=5), self.acks
            return list(self.acks)


class Store:
    def __init__(self) -> None:
        self.value: str | None = None

    def load(self) -> str | None:
        return self.value

    def save(self, encoded: str) -> None:
        self.value = encoded


def message(command_id: str, kind: str = "skip", value: int | None = None, **kw: Any) -> bytes:
    expires_at = kw.get("expires_at", NOW + timedelta(minutes=10))
    return encode_command(CommandMessage(command_id, kind, value, expires_at))  # type: ignore[arg-type]


class Harness:
    def __init__(self, store: Store) -> None:
        self.actions, self.api, self.store = FakeActions(), FakeApi(), store
        self.now = NOW
        self.commands = RemoteCommands(
            self.actions,
            fetch_open=self.api.fetch_open,
            acknowledge=self.api.acknowledge,
            now=lambda: self.now,
            load_run_ids=store.load,
            save_run_ids=store.save,
        )
        self.commands.start()


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness(Store())
    yield h
    h.commands.stop()


def _wait_idle(h: Harness) -> None:
    assert h.commands.wait_idle(10), "the commands worker is stuck"


def test_each_type_runs_and_is_acknowledged_delivered_then_done(harness: Harness) -> None:
    for n, (kind, value) in enumerate(
        [
            ("sync", None),
            ("skip", None),
            ("volume", 30),
            ("restart_playback", None),
            ("snapshot", None),
        ]
    ):
        harness.commands.on_payload(message(f"cmd_{n}", kind, value))
    acks = harness.api.wait_acks(10)
    assert [a[1] for a in acks] == ["delivered", "done"] * 5
    assert harness.actions.calls == [
        ("sync", None),
        ("skip", None),
        ("volume", 30),
        ("restart_playback", None),
        ("snapshot", None),
    ]
    assert acks[1] == ("cmd_0", "done", {"did": "sync"})


def test_the_same_id_runs_once_by_push_by_pick_up_and_after_a_restart() -> None:
    store = Store()
    first = Harness(store)
    try:
        first.commands.on_payload(message("cmd_once"))
        first.commands.on_payload(message("cmd_once"))
        first.api.open = [json.loads(message("cmd_once"))]
        first.commands.pick_up()
        first.api.wait_acks(2)
        _wait_idle(first)
        assert first.actions.calls == [("skip", None)]
    finally:
        first.commands.stop()
    assert rules.decode_run_ids(store.value) == ["cmd_once"]
    second = Harness(store)  # the daemon restarted; the broker redelivers
    try:
        second.commands.on_payload(message("cmd_once"))
        second.commands.on_payload(message("cmd_new", "snapshot"))
        second.api.wait_acks(2)
        _wait_idle(second)
        assert second.actions.calls == [("snapshot", None)]
    finally:
        second.commands.stop()


def test_an_expired_command_is_never_run_nor_acknowledged(harness: Harness) -> None:
    harness.now = NOW + timedelta(minutes=11)
    harness.commands.on_payload(message("cmd_late"))
    _wait_idle(harness)
    assert harness.actions.calls == [] and harness.api.acks == []
    harness.now = NOW  # the same id again, in time: it was settled
    harness.commands.on_payload(message("cmd_late"))
    _wait_idle(harness)
    assert harness.actions.calls == []


def test_a_refused_delivery_is_not_run_and_a_failure_is_reported(harness: Harness) -> None:
    harness.api.refuse.add("cmd_refused")
    harness.commands.on_payload(message("cmd_refused"))
    harness.actions.fail_with = CommandError("the playback loop did not answer")
    harness.commands.on_payload(message("cmd_fails", "volume", 10))
    acks = harness.api.wait_acks(2)
    assert harness.actions.calls == [("volume", 10)]
    assert acks == [
        ("cmd_fails", "delivered", None),
        ("cmd_fails", "failed", {"error": "the playback loop did not answer"}),
    ]


def test_an_unreachable_api_does_not_stop_a_pushed_command(harness: Harness) -> None:
    harness.api.unreachable = True
    harness.commands.on_payload(message("cmd_offline", "snapshot"))
    _wait_idle(harness)  # the final acknowledgement was tried ACK_ATTEMPTS times
    assert harness.actions.calls == [("snapshot", None)]


HOSTILE = st.binary(max_size=3000) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "type", "value", "expires_at", "x"]), children)
    ),
    max_leaves=10,
).map(lambda value: json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(payloads=st.lists(HOSTILE, max_size=5))
def test_hostile_payloads_never_raise_and_never_stall_the_worker(payloads: list[bytes]) -> None:
    h = Harness(Store())
    try:
        for payload in payloads:
            h.commands.on_payload(payload)
        h.commands.on_payload(message("cmd_after", "snapshot"))
        acks = h.api.wait_acks(2)
        assert acks[-1][:2] == ("cmd_after", "done")
        ran = [call for call in h.actions.calls if call != ("snapshot", None)]
        # Only a well-formed command (which hypothesis may well build) ever runs.
        assert all(call[0] in {"sync", "skip", "volume", "restart_playback"} for call in ran)
    finally:
        h.commands.stop()


def test_stored_run_ids_survive_damage_and_stay_bounded() -> None:
    assert rules.decode_run_ids("not json") == []
    assert rules.decode_run_ids('{"a": 1}') == []
    assert rules.decode_run_ids('["a", 3, "b"]') == ["a", "b"]
    ids: list[str] = []
    for n in range(rules.MAX_REMEMBERED + 10):
        ids = rules.remembered(ids, f"c{n}")
    assert len(ids) == rules.MAX_REMEMBERED and ids[-1] == f"c{rules.MAX_REMEMBERED + 9}"
