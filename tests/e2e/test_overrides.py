"""An override, end to end: `lomuz-control serve` → `lomuz-player` (null backend).

The issue's test: "an override starts everywhere and ends by itself at `until`
with the API stopped". Two boxes of one group sync an override aimed at the
group; both say tier override; the API stops; both say the schedule plays
again from `until`, and the running daemon really switches back then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import (
    ApiServer,
    Director,
    PlayerProcess,
    instant,
    wait_for,
    wav_bytes,
    whole_seconds_from_now,
)

pytestmark = pytest.mark.e2e

ITEM_MS = 1000
# The corrected clock adopts the API's Date header (second resolution).
CLOCK_SLACK = timedelta(seconds=1.5)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _next(player: PlayerProcess, at: datetime | None = None) -> dict[str, Any]:
    args = ("next",) if at is None else ("next", "--at", instant(at))
    decision: dict[str, Any] = player.cli_json(*args)
    return decision


@pytest.mark.timeout(180)
def test_an_override_starts_everywhere_and_ends_by_itself_at_until_with_the_api_stopped(
    api: ApiServer, director: Director, player_factory: Callable[..., PlayerProcess]
) -> None:
    day = [director.upload(f"day {n}", wav_bytes(n)) for n in range(2)]
    sale = director.upload("sale", wav_bytes(10))
    day_playlist = director.playlist("day", [a["id"] for a in day], duration_ms=ITEM_MS)
    sale_playlist = director.playlist("sale", [sale["id"]], duration_ms=ITEM_MS)
    schedule = director._ok(
        director.http.post(
            "/v1/schedules", json={"playlist_id": day_playlist["id"], "target": {"all": True}}
        )
    )
    players = []
    for name in ("a", "b"):
        device = director._ok(
            director.http.post("/v1/devices", json={"name": f"box {name}", "groups": ["north"]})
        )
        player = player_factory(name)
        player.enroll(api.url, device["enrollment_code"])
        assert player.sync()["ok"]
        players.append(player)
    running = players[0]
    running.start()
    wait_for(
        lambda: any(p["source"] == "playlist" for p in running.plays()),
        timeout_s=30,
        what="a scheduled play",
        logs=(running.log_path,),
    )

    until = whole_seconds_from_now(10)
    override = director._ok(
        director.http.post(
            "/v1/overrides",
            json={
                "playlist_id": sale_playlist["id"],
                "target": {"group": "north"},
                "until": instant(until),
            },
        )
    )
    for player in players:
        synced = player.sync()
        assert synced["ok"], synced
        now = _next(player)
        assert (now["tier"], now["playlist_id"], now["schedule_id"]) == (
            "override",
            sale_playlist["id"],
            None,
        ), now
        assert now["asset_id"] == sale["id"]
        assert any(override["id"] in line for line in now["reasons"]), now

    api.stop()  # from here on, no network at all
    for player in players:
        after = _next(player, until + timedelta(seconds=1))
        assert (after["tier"], after["schedule_id"], after["playlist_id"]) == (
            "playlist",
            schedule["id"],
            day_playlist["id"],
        ), after
        assert _next(player, until - timedelta(seconds=1))["tier"] == "override"

    def switched_back() -> bool:
        plays = running.plays()
        overridden = [p for p in plays if p["source"] == "override"]
        back = [p for p in plays if p["source"] == "playlist" and parse(p["started_at"]) >= until]
        return bool(overridden and back)

    wait_for(
        switched_back,
        timeout_s=(until - datetime.now(until.tzinfo)).total_seconds() + 20,
        what="override plays, then scheduled plays from until on",
        logs=(running.log_path,),
    )
    assert running.stop() == 0
    plays = running.plays()
    overridden = [p for p in plays if p["source"] == "override"]
    assert {p["asset_id"] for p in overridden} == {sale["id"]}
    assert all(p["playlist_id"] == sale_playlist["id"] for p in overridden)
    assert all(parse(p["started_at"]) < until + CLOCK_SLACK for p in overridden), overridden
    # The first item after until is the schedule's: the fallback happened by itself.
    last_override = max(parse(p["started_at"]) for p in overridden)
    following = [p for p in plays if parse(p["started_at"]) > last_override]
    assert following, plays
    assert {p["source"] for p in following} == {"playlist"}, following
    assert {p["asset_id"] for p in following} <= {a["id"] for a in day}
