"""The whole loop with real processes: director → control API → player → proof of play.

Each test starts its own `lomuz-control serve` (SQLite in tmp_path) and a
`lomuz-player run` daemon with the null backend, where every item "plays" in
real time for its playlist item's ``duration_ms`` (1 s here). Assertions read
what a user reads: `lomuz-player plays/status --json` and GET /v1/plays.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import (
    ApiServer,
    Director,
    PlayerProcess,
    wait_for,
    wav_bytes,
    whole_seconds_from_now,
)

pytestmark = pytest.mark.e2e

ITEM_MS = 1000
# The corrected clock adopts the API's Date header (second resolution), so the
# player's idea of a boundary may differ from ours by up to a second.
CLOCK_SLACK = timedelta(seconds=1.5)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def enrolled_device(
    director: Director, player: PlayerProcess, api_url: str, name: str = "shop"
) -> dict[str, Any]:
    device = director.device(name)
    player.enroll(api_url, device["enrollment_code"])
    return device


def playlist_plays(plays: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in plays if p["source"] == "playlist"]


@pytest.mark.timeout(90)
def test_playlist_plays_in_order_round_robin_and_reaches_the_api(
    api: ApiServer, director: Director, player: PlayerProcess
) -> None:
    # 3 s recordings under 1 s playlist items: the item's duration_ms caps each play.
    assets = [director.upload(f"tone {n}", wav_bytes(n, duration_ms=3000)) for n in range(3)]
    playlist = director.playlist("day", [a["id"] for a in assets], duration_ms=ITEM_MS)
    device = enrolled_device(director, player, api.url)
    schedule = director.schedule(playlist["id"], device["id"])

    # A foreground sync fills the cache first, so the daemon starts on item 1.
    first = player.sync()
    assert first["ok"] and first["via"] == "foreground", first
    player.start()
    wait_for(
        lambda: len(playlist_plays(player.plays())) >= 7,
        timeout_s=30,
        what="7 playlist plays",
        logs=(player.log_path,),
    )
    assert player.stop() == 0

    local = player.plays()
    assert [p["source"] for p in local] == ["playlist"] * len(local), local
    order = [a["id"] for a in assets]
    played = [order.index(p["asset_id"]) for p in local]
    assert played == [n % 3 for n in range(len(local))], played
    by_asset = {a["id"]: a for a in assets}
    for play in local:
        assert play["sha256"] == by_asset[play["asset_id"]]["sha256"]
        assert play["schedule_id"] == schedule["id"]
        assert play["playlist_id"] == playlist["id"]
    # Every item but the one cut by SIGTERM ran for its capped 1 s, not the file's 3 s.
    for play in local[:-1]:
        assert play["outcome"] == "completed"
        length_s = (parse(play["ended_at"]) - parse(play["started_at"])).total_seconds()
        assert 0.8 <= length_s <= 2.5, play
    assert local[-1]["outcome"] in ("completed", "skipped")
    assert all(p["uploaded"] for p in local), ("SIGTERM uploads what is pending", local)

    served = director.plays(device["id"])
    ids = [p["id"] for p in served]
    assert len(ids) == len(set(ids))
    assert set(ids) == {p["id"] for p in local}
    local_by_id = {p["id"]: p for p in local}
    for play in served:
        mine = local_by_id[play["id"]]
        assert play["device_id"] == device["id"]
        for key in ("asset_id", "sha256", "source", "outcome", "schedule_id", "playlist_id"):
            assert play[key] == mine[key], key
        assert parse(play["started_at"]) == parse(mine["started_at"])


@pytest.mark.timeout(90)
def test_a_playlist_edit_reaches_the_player_on_the_next_sync(
    api: ApiServer, director: Director, player: PlayerProcess
) -> None:
    old, new = (director.upload(f"tone {n}", wav_bytes(10 + n)) for n in range(2))
    playlist = director.playlist("day", [old["id"]], duration_ms=ITEM_MS)
    device = enrolled_device(director, player, api.url)
    director.schedule(playlist["id"], device["id"])
    assert player.sync()["ok"]
    player.start()
    wait_for(
        lambda: len(playlist_plays(player.plays())) >= 2,
        timeout_s=20,
        what="the old playlist playing",
        logs=(player.log_path,),
    )

    path = f"/v1/playlists/{playlist['id']}"
    items = [{"asset_id": a["id"], "duration_ms": ITEM_MS} for a in (old, new)]
    edited = director.http.put(
        path, json={"name": "day", "items": items}, headers={"If-Match": f'"{playlist["version"]}"'}
    )
    assert edited.status_code == 200, edited.text
    # A second director holding the old version is refused and changes nothing.
    stale = director.http.put(
        path,
        json={"name": "stale", "items": items[1:]},
        headers={"If-Match": f'"{playlist["version"]}"'},
    )
    assert stale.status_code == 412
    assert director.http.get(path).json()["items"] == items

    reply = player.sync()
    assert reply["ok"] and reply["via"] == "daemon", reply
    assert reply["sync"]["changed"] is True
    assert reply["downloads"]["failing"] == []

    def new_plays() -> list[dict[str, Any]]:
        return [p for p in player.plays() if p["asset_id"] == new["id"]]

    played = wait_for(
        new_plays, timeout_s=15, what="the added item playing", logs=(player.log_path,)
    )
    assert played[0]["sha256"] == new["sha256"]
    assert played[0]["playlist_id"] == playlist["id"]
    player.stop()
    # After the edit both items alternate (round robin over the new list).
    tail = [p["asset_id"] for p in playlist_plays(player.plays())]
    start = tail.index(new["id"])
    after = tail[start:]
    assert all(a != b for a, b in itertools.pairwise(after)), after


@pytest.mark.timeout(120)
def test_schedule_windows_close_into_the_next_schedule_then_emergency_then_jingle(
    api: ApiServer, director: Director, player: PlayerProcess
) -> None:
    # Setup (uploads, enroll, a foreground sync, the process start) takes a few
    # seconds, more on a loaded CI machine: the first window must outlast it.
    hi_end = whole_seconds_from_now(12)
    lo_end = hi_end + timedelta(seconds=4)
    emergency_end = lo_end + timedelta(seconds=4)
    hi_asset = director.upload("promo", wav_bytes(20))
    lo_asset = director.upload("background", wav_bytes(21))
    emergency = director.upload(
        "announcement", wav_bytes(22), emergency=True, valid_until=emergency_end
    )
    hi = director.playlist("promo", [hi_asset["id"]], duration_ms=ITEM_MS)
    lo = director.playlist("background", [lo_asset["id"]], duration_ms=ITEM_MS)
    device = enrolled_device(director, player, api.url)
    director.schedule(hi["id"], device["id"], priority=10, valid_until=hi_end)
    director.schedule(lo["id"], device["id"], priority=0, valid_until=lo_end)
    assert player.sync()["ok"]
    player.start()

    def jingle_after_the_emergency() -> bool:
        sources = [p["source"] for p in player.plays()]
        return "emergency" in sources and "jingle" in sources[sources.index("emergency") :]

    timeout_s = (emergency_end - datetime.now(hi_end.tzinfo)).total_seconds() + 15
    wait_for(
        jingle_after_the_emergency,
        timeout_s=timeout_s,
        what="playlist → playlist → emergency → jingle",
        logs=(player.log_path,),
    )
    player.stop()

    plays = player.plays()

    def phase(play: dict[str, Any]) -> int:
        if play["source"] == "playlist":
            return {hi["id"]: 0, lo["id"]: 1}[play["playlist_id"]]
        return {"emergency": 2, "jingle": 3}[play["source"]]

    phases = [phase(p) for p in plays]
    seen = [(phase(p), p["started_at"]) for p in plays]
    assert phases == sorted(phases), (seen, hi_end, lo_end, emergency_end)
    assert set(phases) == {0, 1, 2, 3}, seen
    for play in plays:
        started = parse(play["started_at"])
        if phase(play) == 0:
            assert play["asset_id"] == hi_asset["id"]
            assert started < hi_end + CLOCK_SLACK, seen
        elif phase(play) == 1:
            assert play["asset_id"] == lo_asset["id"]
            assert hi_end - CLOCK_SLACK <= started < lo_end + CLOCK_SLACK, seen
        elif phase(play) == 2:
            assert play["asset_id"] == emergency["id"]
            assert lo_end - CLOCK_SLACK <= started < emergency_end + CLOCK_SLACK, seen
        else:
            assert started >= emergency_end - CLOCK_SLACK, seen
    assert min(Counter(phases)[n] for n in (0, 1, 2)) >= 2, seen
