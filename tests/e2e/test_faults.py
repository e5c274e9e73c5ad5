"""The loop under faults: the API down, a corrupted download, kill -9 mid-download.

The player is enrolled with the URL of a ``FaultProxy`` sitting in front of
the API, so every request it makes (manifest, media, plays) goes through the
proxy, which can drop, corrupt or stall it and records what it saw.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import (
    ApiServer,
    Director,
    PlayerProcess,
    big_wav_bytes,
    sha256_of,
    wait_for,
    wav_bytes,
)
from tests.robustness.faultproxy import Fault, FaultProxy, ScriptedPolicy

pytestmark = pytest.mark.e2e

ITEM_MS = 1000


@pytest.fixture
def proxy(api: ApiServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", api.port, max_stall_s=60.0) as fault_proxy:
        yield fault_proxy


def media_path(sha256: str) -> str:
    return f"/v1/media/{sha256}"


def requests_for(proxy: FaultProxy, path: str) -> list[Any]:
    return [r for r in proxy.records() if r.target.split("?", 1)[0] == path]


def setup_shop(
    director: Director, player: PlayerProcess, api_url: str, assets: list[dict[str, Any]]
) -> dict[str, Any]:
    playlist = director.playlist("day", [a["id"] for a in assets], duration_ms=ITEM_MS)
    device = director.device("shop")
    director.schedule(playlist["id"], device["id"])
    player.enroll(api_url, device["enrollment_code"])
    return device


@pytest.mark.timeout(120)
def test_airplane_mode_keeps_playing_and_uploads_the_plays_once_back(
    api: ApiServer, director: Director, player: PlayerProcess, proxy: FaultProxy
) -> None:
    assets = [director.upload(f"tone {n}", wav_bytes(30 + n)) for n in range(2)]
    device = setup_shop(director, player, proxy.url, assets)
    assert player.sync()["ok"]
    player.start()
    wait_for(
        lambda: any(p["uploaded"] for p in player.plays()),
        timeout_s=20,
        what="a first play uploaded",
        logs=(player.log_path,),
    )

    api.stop()
    offline_from = len(player.plays())

    def offline_plays() -> list[dict[str, Any]] | None:
        newer = player.plays()[offline_from:]
        return newer if len(newer) >= 5 else None

    offline = wait_for(
        offline_plays, timeout_s=20, what="5 plays with the API down", logs=(player.log_path,)
    )
    # Playback carried on from the cache: playlist items, nothing uploaded.
    assert {p["source"] for p in offline} == {"playlist"}
    assert not any(p["uploaded"] for p in offline)
    status = player.status()
    assert status["daemon"]["now_playing"]["state"] == "playing"

    # Back online, and the first plays upload is applied by the API but its
    # answer is lost: the player must resend and the API must dedup.
    dropped = ScriptedPolicy(
        [Fault.drop(forward=True)],
        match=lambda r: r.method == "POST" and r.path == "/v1/device/plays",
    )
    proxy.set_policy(dropped)
    api.start()
    offline_ids = {p["id"] for p in offline}
    wait_for(
        lambda: all(p["uploaded"] for p in player.plays() if p["id"] in offline_ids),
        timeout_s=40,
        what="the offline plays uploaded",
        logs=(player.log_path, api.log_path),
    )
    assert dropped.remaining == 0, "the lost acknowledgement happened"
    assert player.stop() == 0

    local = player.plays()
    served = director.plays(device["id"])
    ids = [p["id"] for p in served]
    assert len(ids) == len(set(ids)), "no duplicates"
    assert set(ids) == {p["id"] for p in local}
    assert offline_ids <= set(ids)
    assert all(p["device_id"] == device["id"] for p in served)


@pytest.mark.timeout(120)
def test_a_corrupted_download_is_never_played_retried_reported_then_fixed(
    api: ApiServer, director: Director, player: PlayerProcess, proxy: FaultProxy
) -> None:
    good = director.upload("good", wav_bytes(40))
    bad = director.upload("bad", wav_bytes(41))
    bad_path = media_path(bad["sha256"])
    proxy.set_policy(
        ScriptedPolicy([], then=Fault.corrupt(flips=8), match=lambda r: r.path == bad_path)
    )
    setup_shop(director, player, proxy.url, [good, bad])
    player.start()

    def failing_entry() -> dict[str, Any] | None:
        downloads = player.status()["daemon"]["downloads"] or {}
        found = [f for f in downloads.get("failing") or [] if f["sha256"] == bad["sha256"]]
        return found[0] if found else None

    failure = wait_for(
        failing_entry, timeout_s=20, what="the failure in status --json", logs=(player.log_path,)
    )
    assert "sha256" in failure["last_error"]
    # `sync` clears the back-off, so the retry happens now rather than in up to 5 s.
    reply = player.sync(download_timeout_s=5)
    assert reply["ok"] is False
    assert bad["sha256"] in {f["sha256"] for f in reply["downloads"]["failing"]}
    wait_for(
        lambda: len(requests_for(proxy, bad_path)) >= 2,
        timeout_s=20,
        what="a retry of the corrupted file",
        logs=(player.log_path,),
    )
    wait_for(
        lambda: sum(p["asset_id"] == good["id"] for p in player.plays()) >= 3,
        timeout_s=20,
        what="the good item playing meanwhile",
        logs=(player.log_path,),
    )

    cache = player.data_dir / "media"
    assert not (cache / "sha256" / bad["sha256"][:2] / bad["sha256"]).exists()
    assert not (cache / "partial" / f"{bad['sha256']}.part").exists()
    assert all(p["asset_id"] != bad["id"] for p in player.plays())
    assert all(r.status == 200 for r in requests_for(proxy, bad_path))

    proxy.set_policy(ScriptedPolicy([]))
    fixed = player.sync(download_timeout_s=30)
    assert fixed["ok"] is True, fixed
    assert fixed["downloads"]["failing"] == []
    played = wait_for(
        lambda: [p for p in player.plays() if p["asset_id"] == bad["id"]],
        timeout_s=15,
        what="the repaired item playing",
        logs=(player.log_path,),
    )
    assert played[0]["sha256"] == bad["sha256"]
    assert sha256_of(cache / "sha256" / bad["sha256"][:2] / bad["sha256"]) == bad["sha256"]
    player.stop()


@pytest.mark.timeout(150)
def test_kill_9_during_a_download_resumes_it_and_never_plays_a_partial_file(
    api: ApiServer, director: Director, player: PlayerProcess, proxy: FaultProxy
) -> None:
    small = director.upload("small", wav_bytes(50))
    big = director.upload("big", big_wav_bytes(24 * 1024 * 1024))
    big_path = media_path(big["sha256"])
    # Half the body, then a long stall: the kill lands while the body is flowing.
    proxy.set_policy(
        ScriptedPolicy([Fault.stall(60.0, fraction=0.5)], match=lambda r: r.path == big_path)
    )
    setup_shop(director, player, proxy.url, [small, big])
    player.start()

    part = player.data_dir / "media" / "partial" / f"{big['sha256']}.part"
    cached = player.data_dir / "media" / "sha256" / big["sha256"][:2] / big["sha256"]

    def part_size() -> int:
        return part.stat().st_size if part.exists() else 0

    def part_stalled() -> int | None:
        before = part_size()
        time.sleep(0.3)
        after = part_size()
        return after if after > 0 and after == before else None

    size_at_kill = wait_for(
        part_stalled, timeout_s=30, what="a stalled partial download", logs=(player.log_path,)
    )
    assert 0 < size_at_kill < big["size"]
    assert all(p["asset_id"] != big["id"] for p in player.plays())
    player.kill()
    assert part_size() == size_at_kill, "the partial file survives kill -9"
    assert not cached.exists()

    player.start()
    wait_for(cached.exists, timeout_s=30, what="the big file in the cache", logs=(player.log_path,))
    assert sha256_of(cached) == big["sha256"]
    assert not part.exists()
    statuses = [r.status for r in requests_for(proxy, big_path)]
    assert statuses[0] == 200  # the stalled first attempt
    assert 206 in statuses[1:], statuses  # the resume: a Range request answered partially
    played = wait_for(
        lambda: [p for p in player.plays() if p["asset_id"] == big["id"]],
        timeout_s=15,
        what="the big item playing",
        logs=(player.log_path,),
    )
    assert all(p["sha256"] == big["sha256"] and p["outcome"] != "error" for p in played)
    player.stop()
