"""POST /v1/device/plays validates each play on its own (PROTOCOL, Device endpoints).

A bad play is listed in ``rejected`` and never stored; the good ones of the same
batch are stored. On PostgreSQL an over-long or NUL-holding field used to fail
the whole batch with a 500, blocking the device's proof of play for good.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.control_api.conftest import Api, make_api
from tests.control_api.media_samples import wav


@pytest.fixture
def big_api(settings_env: dict[str, str]) -> Iterator[Api]:
    yield from make_api(settings_env, max_json_bytes=1 << 20)


def _play(asset: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "asset_id": asset["id"],
        "sha256": asset["sha256"],
        "started_at": "2026-03-01T10:00:00Z",
        "ended_at": "2026-03-01T10:03:00Z",
        "source": "playlist",
        "outcome": "completed",
        **extra,
    }


def _stored(api: Api, admin: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.call("GET", "/v1/plays", admin).json["items"]
    return items


def _bad_plays(asset: dict[str, Any], other_tenant_asset: dict[str, Any]) -> list[tuple[Any, str]]:
    """(play, expected rejection code) for every kind of bad play."""
    p = _play
    return [
        ("not an object", "not_an_object"),
        ({k: v for k, v in p(asset).items() if k != "sha256"}, "missing_field"),
        (p(asset, id="not-a-uuid"), "bad_id"),
        (p(asset, id="x" * 5000), "bad_id"),
        (p(asset, id=12), "bad_id"),
        (p(asset, id=f"{uuid.uuid4()}\x00"), "bad_id"),
        (p(asset, asset_id="a" * 41), "bad_field"),
        (p(asset, asset_id="ast_\x00"), "bad_field"),
        (p(asset, asset_id=7), "bad_field"),
        (p(asset, schedule_id="s" * 41), "bad_field"),
        (p(asset, playlist_id="pl\x00"), "bad_field"),
        (p(asset, sha256="F" * 64), "bad_sha256"),
        (p(asset, sha256="0" * 64), "unknown_asset"),
        (p(asset, asset_id="ast_fabricated"), "unknown_asset"),
        (p(other_tenant_asset), "unknown_asset"),
        (p(asset, started_at="2026-03-01T10:00:00"), "bad_instant"),
        (p(asset, started_at="0001-01-01T00:00:00+01:00"), "bad_instant"),
        (p(asset, ended_at="9999-12-31T23:59:59-05:00"), "bad_instant"),
        (p(asset, started_at="2026-03-01T10:00:00Z\x00"), "bad_instant"),
        (p(asset, started_at="2" * 1000), "bad_instant"),
        (p(asset, ended_at="2026-01-01T00:00:00Z"), "bad_interval"),
        (p(asset, source="radio"), "bad_source"),
        (p(asset, source=["playlist"]), "bad_source"),
        (p(asset, outcome="maybe"), "bad_outcome"),
    ]


def test_a_mixed_batch_stores_the_good_and_lists_the_bad(big_api: Api) -> None:
    api = big_api
    admin = api.tenant()
    other = api.tenant("other")
    _, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    stranger = api.upload(other, wav(b"their song")).json
    bad = _bad_plays(asset, stranger)
    good = [_play(asset), _play(asset, source="override"), _play(asset, future_field=1)]
    batch = [good[0], *[play for play, _ in bad[:10]], good[1], *[play for play, _ in bad[10:]]]
    batch.append(good[2])

    reply = api.call("POST", "/v1/device/plays", token, json={"plays": batch})

    assert reply.status_code == 200, reply.text
    answer = reply.json
    assert answer["accepted"] == 3 and answer["duplicates"] == 0
    assert [r["code"] for r in answer["rejected"]] == [code for _, code in bad]
    assert answer["accepted"] + answer["duplicates"] + len(answer["rejected"]) == len(batch)
    for (play, _), rejection in zip(bad, answer["rejected"], strict=True):
        sent = play.get("id") if isinstance(play, dict) else None
        assert rejection["id"] == (sent[:64] if isinstance(sent, str) else None)
    assert sorted(p["id"] for p in _stored(api, admin)) == sorted(p["id"] for p in good)
    assert _stored(api, other) == []

    # The player resends the same batch (it does so after a lost answer): same answer.
    again = api.call("POST", "/v1/device/plays", token, json={"plays": batch}).json
    assert again["accepted"] == 0 and again["duplicates"] == 3
    assert again["rejected"] == answer["rejected"]


def test_any_spelling_of_a_uuid_is_the_same_play(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    play_id = uuid.uuid4()
    spellings = [f"{{{play_id}}}", str(play_id).upper(), play_id.hex, play_id.urn]

    batch = [_play(asset, id=spelling) for spelling in spellings[:3]]
    first = api.call("POST", "/v1/device/plays", token, json={"plays": batch})
    assert first.json == {"accepted": 1, "duplicates": 2, "rejected": []}
    later = api.call(
        "POST", "/v1/device/plays", token, json={"plays": [_play(asset, id=spellings[3])]}
    )
    assert later.json == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert [p["id"] for p in _stored(api, admin)] == [str(play_id)]


def test_a_play_of_a_deleted_asset_is_kept_but_a_fabricated_one_is_not(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    asset = api.upload(admin, wav(b"song")).json
    assert api.call("DELETE", f"/v1/assets/{asset['id']}", admin).status_code == 204
    reply = api.call(
        "POST",
        "/v1/device/plays",
        token,
        json={"plays": [_play(asset), _play(asset, asset_id="ast_never_existed")]},
    )
    assert reply.json["accepted"] == 1
    assert [r["code"] for r in reply.json["rejected"]] == ["unknown_asset"]


def test_a_batch_that_is_not_a_list_is_still_refused_whole(api: Api) -> None:
    admin = api.tenant()
    _, token = api.device(admin)
    for body in ({"plays": {"id": "x"}}, {"plays": None}, {}):
        reply = api.call("POST", "/v1/device/plays", token, json=body)
        assert reply.status_code == 422, reply.text


def test_a_jingle_play_is_kept_although_no_tenant_has_the_jingle(api: Api) -> None:
    """The player's built-in fallback is no asset: its plays are proof the shop heard it."""
    admin = api.tenant()
    _, token = api.device(admin)
    jingle = {"id": "jingle", "sha256": "ab" * 32}
    reply = api.call(
        "POST", "/v1/device/plays", token, json={"plays": [_play(jingle, source="jingle")]}
    )
    assert reply.json == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert [p["source"] for p in _stored(api, admin)] == ["jingle"]
    # A playlist play of the same made-up asset is still refused.
    refused = api.call("POST", "/v1/device/plays", token, json={"plays": [_play(jingle)]})
    assert [r["code"] for r in refused.json["rejected"]] == ["unknown_asset"]
