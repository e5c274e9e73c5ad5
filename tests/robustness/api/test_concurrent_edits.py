"""50 directors editing one playlist at once with If-Match, over real HTTP on
loopback: one winner per version, 412 for the rest, no lost update."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from tests.control_api.media_samples import wav
from tests.robustness.api.conftest import Reply, Served, error_of

EDITORS = 50


@dataclass
class Edit:
    editor: int
    if_match: int
    reply: Reply


def make_playlist(served: Served) -> tuple[str, str, list[str]]:
    admin = served.env.api.tenant()
    assets = []
    for i in range(3):
        r = served.request(
            "POST",
            "/v1/assets",
            admin,
            body=wav(f"track {i}".encode() * 100),
            headers={"Content-Type": "audio/wav"},
        )
        assert r.status == 201, r.body
        assets.append(r.json()["id"])
    r = served.request(
        "POST",
        "/v1/playlists",
        admin,
        body=json.dumps({"name": "start", "items": [{"asset_id": assets[0]}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 201, r.body
    assert r.headers["etag"] == '"1"'
    return admin, r.json()["id"], assets


def body_of(editor: int, assets: list[str]) -> dict[str, object]:
    """A distinct body per editor, so the winner's content is recognisable."""
    items = [{"asset_id": assets[editor % 3], "duration_ms": 1000 + editor}]
    if editor % 2:
        items.append({"asset_id": assets[(editor + 1) % 3], "duration_ms": None})
    return {"name": f"editor-{editor}", "items": items}


def run_editors(
    served: Served, admin: str, playlist_id: str, assets: list[str], read_first: bool
) -> list[Edit]:
    barrier = threading.Barrier(EDITORS)
    edits: list[Edit] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def editor(i: int) -> None:
        try:
            version = 1
            if read_first:
                got = served.request("GET", f"/v1/playlists/{playlist_id}", admin)
                version = int(got.headers["etag"].strip('"'))
            barrier.wait(timeout=30)
            reply = served.request(
                "PUT",
                f"/v1/playlists/{playlist_id}",
                admin,
                body=json.dumps(body_of(i, assets)).encode(),
                headers={"Content-Type": "application/json", "If-Match": f'"{version}"'},
            )
            with lock:
                edits.append(Edit(i, version, reply))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(EDITORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    assert len(edits) == EDITORS
    return edits


def check_outcome(
    served: Served,
    admin: str,
    playlist_id: str,
    assets: list[str],
    edits: list[Edit],
    start_version: int,
) -> int:
    wins = [e for e in edits if e.reply.status == 200]
    losses = [e for e in edits if e.reply.status != 200]
    for e in losses:
        assert e.reply.status == 412, (e.reply.status, e.reply.body[:300])
        err = error_of(e.reply.status, e.reply.headers.get("content-type"), e.reply.body)
        assert err["code"] == "version_mismatch"
    assert wins, "nobody won"
    # One winner per version: each success moved its If-Match version to +1.
    by_version: dict[int, list[int]] = {}
    for e in wins:
        by_version.setdefault(e.if_match, []).append(e.editor)
        assert e.reply.json()["version"] == e.if_match + 1, e.reply.body
        assert e.reply.headers["etag"] == f'"{e.if_match + 1}"'
        assert e.reply.json()["name"] == f"editor-{e.editor}"
    assert all(len(v) == 1 for v in by_version.values()), by_version
    new_versions = sorted(e.reply.json()["version"] for e in wins)
    assert new_versions == list(range(start_version + 1, start_version + 1 + len(wins)))

    final = served.request("GET", f"/v1/playlists/{playlist_id}", admin)
    assert final.status == 200
    doc = final.json()
    assert doc["version"] == start_version + len(wins), (doc["version"], len(wins))
    last = max(wins, key=lambda e: e.reply.json()["version"])
    expected = body_of(last.editor, assets)
    assert doc["name"] == expected["name"]
    assert doc["items"] == expected["items"]
    return int(doc["version"])


def test_fifty_editors_same_version_exactly_one_wins(served: Served) -> None:
    admin, playlist_id, assets = make_playlist(served)
    edits = run_editors(served, admin, playlist_id, assets, read_first=False)
    wins = [e for e in edits if e.reply.status == 200]
    assert len(wins) == 1, [(e.editor, e.reply.status) for e in edits]
    assert check_outcome(served, admin, playlist_id, assets, edits, 1) == 2


def test_fifty_editors_read_then_write_no_lost_update(served: Served) -> None:
    admin, playlist_id, assets = make_playlist(served)
    edits = run_editors(served, admin, playlist_id, assets, read_first=True)
    final_version = check_outcome(served, admin, playlist_id, assets, edits, 1)
    # The change is visible to a device: its manifest carries the final content.
    r = served.request(
        "POST",
        "/v1/schedules",
        admin,
        body=json.dumps({"playlist_id": playlist_id, "target": {"all": True}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 201, r.body
    _, token = served.env.api.device(admin)
    manifest = served.request("GET", "/v1/device/manifest", token).json()
    [playlist] = manifest["playlists"]
    assert playlist["version"] == final_version


def test_fifty_editors_of_one_schedule_exactly_one_wins(served: Served) -> None:
    admin, playlist_id, _ = make_playlist(served)
    created = served.request(
        "POST",
        "/v1/schedules",
        admin,
        body=json.dumps({"playlist_id": playlist_id, "target": {"all": True}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert created.status == 201, created.body
    schedule_id = created.json()["id"]
    barrier = threading.Barrier(EDITORS)
    replies: dict[int, Reply] = {}
    failures: list[BaseException] = []

    def editor(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            replies[i] = served.request(
                "PUT",
                f"/v1/schedules/{schedule_id}",
                admin,
                body=json.dumps(
                    {"playlist_id": playlist_id, "target": {"group": f"g{i}"}, "priority": i}
                ).encode(),
                headers={"Content-Type": "application/json", "If-Match": '"1"'},
            )
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(EDITORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    wins = [i for i, r in replies.items() if r.status == 200]
    assert len(wins) == 1, sorted(wins)
    assert sorted(r.status for r in replies.values()) == [200] + [412] * (EDITORS - 1)
    final = served.request("GET", f"/v1/schedules/{schedule_id}", admin).json()
    assert final["version"] == 2
    assert final["priority"] == wins[0] and final["target"] == {"group": f"g{wins[0]}"}
