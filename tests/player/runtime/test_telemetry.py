"""TelemetryUploader against a scripted API: batches, acknowledgement before
marking, failures logged per transition, status reports."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from lomuz_rules.model import Tier
from player.adapters.http_api import ControlApiClient
from player.core.model import Outcome, Play
from player.runtime.telemetry import TelemetryUploader
from player.store.repository import PlayerStore
from tests.player.runtime.helpers import T0, Answer, Script, ScriptedServer, Seen

Serve = Callable[[Script], ScriptedServer]
MakeClient = Callable[[str], ControlApiClient]
STATUS = {"now_playing": None, "cursor": "r1"}


class Api:
    """Acknowledges plays (or fails with ``plays_status``) and accepts status reports."""

    def __init__(self) -> None:
        self.plays_status = 200
        self.known: set[str] = set()

    def __call__(self, seen: Seen) -> Answer:
        if seen.path == "/v1/device/plays":
            if self.plays_status != 200:
                return Answer.json(
                    self.plays_status, {"error": {"code": "boom", "message": "broken"}}
                )
            ids = [p["id"] for p in seen.json()["plays"]]
            duplicates = sum(i in self.known for i in ids)
            self.known.update(ids)
            return Answer.json(200, {"accepted": len(ids) - duplicates, "duplicates": duplicates})
        if seen.path == "/v1/device/telemetry":
            return Answer(204)
        return Answer.json(404, {"error": {"code": "not_found", "message": seen.path}})


def record(store: PlayerStore, n: int) -> list[Play]:
    made = [
        Play(
            str(uuid.uuid4()),
            f"ast-{i}",
            "b" * 64,
            T0 + timedelta(minutes=i),
            T0 + timedelta(minutes=i, seconds=30),
            Tier.EMERGENCY,
            Outcome.COMPLETED,
        )
        for i in range(n)
    ]
    for play in made:
        store.outbox.record_play(play)
    return made


def posted_plays(server: ScriptedServer) -> list[list[str]]:
    return [
        [p["id"] for p in s.json()["plays"]] for s in server.seen if s.path == "/v1/device/plays"
    ]


def test_pending_plays_go_in_batches_oldest_first(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    server = serve(Api())
    made = record(store, 5)
    uploader = TelemetryUploader(store.outbox, api_client(server.url), lambda: STATUS, batch_size=2)
    uploader.run_once()
    ids = [p.id for p in made]
    assert posted_plays(server) == [ids[0:2], ids[2:4], ids[4:5]]
    assert store.outbox.pending_plays(10) == []
    assert all(uploaded for _, uploaded in store.outbox.local_plays())
    assert uploader.uploaded_total == 5
    first = server.seen[0].json()["plays"][0]
    assert first["asset_id"] == "ast-0" and first["source"] == "emergency"


def test_batches_per_run_are_bounded(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    server = serve(Api())
    record(store, 7)
    uploader = TelemetryUploader(
        store.outbox, api_client(server.url), lambda: STATUS, batch_size=2, max_batches_per_run=2
    )
    assert uploader.upload_plays() == 4
    assert len(store.outbox.pending_plays(10)) == 3


def test_nothing_is_marked_without_an_acknowledgement(
    store: PlayerStore, serve: Serve, api_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api()
    api.plays_status = 500
    server = serve(api)
    made = record(store, 3)
    uploader = TelemetryUploader(store.outbox, api_client(server.url), lambda: STATUS)
    caplog.set_level(logging.INFO, logger="player.runtime.telemetry")
    for _ in range(3):
        uploader.run_once()
    assert [p.id for p in store.outbox.pending_plays(10)] == [p.id for p in made]
    assert not any(uploaded for _, uploaded in store.outbox.local_plays())
    assert uploader.uploaded_total == 0

    api.plays_status = 200
    uploader.run_once()
    uploader.run_once()
    assert store.outbox.pending_plays(10) == []
    messages = [r.getMessage() for r in caplog.records if r.name == "player.runtime.telemetry"]
    assert sum("failing" in m for m in messages) == 1
    assert sum("recovered" in m for m in messages) == 1


def test_the_same_plays_twice_count_as_duplicates(
    tmp_path: Path, serve: Serve, api_client: MakeClient
) -> None:
    api = Api()
    server = serve(api)
    with PlayerStore.open(tmp_path / "a.db") as a, PlayerStore.open(tmp_path / "b.db") as b:
        made = record(a, 3)
        for play in made:
            b.outbox.record_play(play)
        first = TelemetryUploader(a.outbox, api_client(server.url), lambda: STATUS)
        second = TelemetryUploader(b.outbox, api_client(server.url), lambda: STATUS)
        first.run_once()
        second.run_once()
        assert (first.uploaded_total, second.uploaded_total) == (3, 0)
        assert b.outbox.pending_plays(10) == []  # duplicates are acknowledged too
    assert posted_plays(server)[0] == posted_plays(server)[1]


def test_status_is_posted_even_when_plays_fail(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    api = Api()
    api.plays_status = 503
    server = serve(api)
    record(store, 1)
    calls: list[int] = []

    def status() -> dict[str, object]:
        calls.append(1)
        return {**STATUS, "n": len(calls)}

    TelemetryUploader(store.outbox, api_client(server.url), status).run_once()
    reports = [s.json() for s in server.seen if s.path == "/v1/device/telemetry"]
    assert reports == [{"now_playing": None, "cursor": "r1", "n": 1}]
    assert len(store.outbox.pending_plays(10)) == 1


def test_batch_size_is_validated(store: PlayerStore, api_client: MakeClient) -> None:
    client = api_client("http://127.0.0.1:9/")
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="batch_size"):
            TelemetryUploader(store.outbox, client, lambda: STATUS, batch_size=bad)


class RefusesOnePlay(Api):
    """Refuses (422) any batch that contains the poisoned play id."""

    def __init__(self, poisoned: str) -> None:
        super().__init__()
        self.poisoned = poisoned

    def __call__(self, seen: Seen) -> Answer:
        if seen.path == "/v1/device/plays" and any(
            p["id"] == self.poisoned for p in seen.json()["plays"]
        ):
            return Answer.json(422, {"error": {"code": "invalid", "message": "bad play"}})
        return super().__call__(seen)


def test_a_play_the_api_refuses_for_good_does_not_block_the_outbox(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    made = record(store, 4)
    api = RefusesOnePlay(made[1].id)
    server = serve(api)
    uploader = TelemetryUploader(store.outbox, api_client(server.url), lambda: STATUS, batch_size=4)
    uploader.run_once()
    assert store.outbox.pending_plays(10) == []
    assert api.known == {made[0].id, made[2].id, made[3].id}
    assert uploader.refused_total == 1
    assert uploader.uploaded_total == 3


def test_a_partial_acknowledgement_marks_nothing(
    store: PlayerStore, serve: Serve, api_client: MakeClient
) -> None:
    def half_ack(seen: Seen) -> Answer:
        if seen.path == "/v1/device/plays":
            return Answer.json(200, {"accepted": 1, "duplicates": 0})
        return Answer(204)

    made = record(store, 2)
    server = serve(half_ack)
    TelemetryUploader(store.outbox, api_client(server.url), lambda: STATUS).run_once()
    assert [p.id for p in store.outbox.pending_plays(10)] == [p.id for p in made]
