"""decode_manifest edge rules and Play encoding."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lomuz_rules.model import Tier
from player.core.model import Outcome, Play
from player.errors import ManifestError
from player.wire import (
    MAX_PLAYS_PER_UPLOAD,
    decode_manifest,
    encode_play,
    encode_plays,
    format_instant,
    parse_instant,
    parse_time_of_day,
)

FULL: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "contract" / "manifests" / "valid" / "full.json").read_text()
)


def decode(doc: object) -> Any:
    return decode_manifest(json.dumps(doc).encode())


def rejected_at(doc: object) -> str | None:
    with pytest.raises(ManifestError) as info:
        decode(doc)
    return info.value.path


@given(
    at=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9998, 1, 1),
        timezones=st.just(UTC),
    ),
    offset_min=st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_instants_in_any_offset_normalise_to_the_same_utc_instant(
    at: datetime, offset_min: int
) -> None:
    local = at.astimezone(timezone(timedelta(minutes=offset_min)))
    parsed = parse_instant(local.isoformat())
    assert parsed == at
    assert parsed.tzinfo is UTC
    assert parse_instant(format_instant(at)) == at


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T09:00:00",  # no zone
        "2026-12-01",
        "2026-12-01 09:00:00Z",
        "20261201T090000Z",
        "2026-13-01T09:00:00Z",
        "2026-12-01T09:00:60Z",
        "yesterday",
        "",
    ],
)
def test_bad_instants_are_rejected(text: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_instant(text, "x.valid_from")
    assert info.value.path == "x.valid_from"


@given(st.integers(min_value=0, max_value=1440))
def test_times_of_day_round_trip(minute: int) -> None:
    text = f"{minute // 60:02d}:{minute % 60:02d}"
    assert parse_time_of_day(text, "t", allow_24=True) == minute
    if minute < 1440:
        assert parse_time_of_day(text, "t", allow_24=False) == minute
    else:
        with pytest.raises(ManifestError):
            parse_time_of_day(text, "t", allow_24=False)


@pytest.mark.parametrize("text", ["24:01", "25:00", "12:60", "9:00", "09:00:00", "0900", 900])
def test_bad_times_of_day_are_rejected(text: object) -> None:
    with pytest.raises(ManifestError):
        parse_time_of_day(text, "t", allow_24=True)


# (path into the document, a value of the wrong type) for fields the player uses
TYPED_FIELDS: list[tuple[tuple[str | int, ...], object]] = [
    (("cursor",), 42),
    (("sync_interval_s",), "600"),
    (("sync_interval_s",), 600.0),
    (("device", "groups"), "france"),
    (("device", "groups", 0), 1),
    (("assets", 0, "emergency"), "false"),
    (("assets", 0, "duration_ms"), True),
    (("assets", 1, "media_type"), "hologram"),
    (("assets", 2, "url"), None),
    (("playlists", 0, "items"), {}),
    (("playlists", 0, "items", 1), "ast-poster"),
    (("playlists", 1, "version"), "1"),
    (("schedules", 0, "target"), {"all": True}),
    (("schedules", 0, "priority"), 1.5),
    (("schedules", 2, "days"), 7),
    (("deleted",), []),
]


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@pytest.mark.parametrize(("path", "value"), TYPED_FIELDS, ids=lambda v: repr(v)[:30])
def test_wrong_type_names_the_field(path: tuple[str | int, ...], value: object) -> None:
    doc = copy.deepcopy(FULL)
    if path == ("deleted",):
        doc["full"] = False
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert rejected_at(doc) == dotted(path)


unknown_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(
    where=st.sampled_from(
        [
            (),
            ("device",),
            ("assets", 0),
            ("playlists", 1),
            ("playlists", 0, "items", 0),
            ("schedules", 2),
            ("deleted",),
        ]
    ),
    key=st.text(min_size=1, max_size=8).map(lambda k: "x_" + k),
    value=unknown_values,
)
def test_unknown_fields_anywhere_are_ignored(
    where: tuple[str | int, ...], key: str, value: object
) -> None:
    doc = copy.deepcopy(FULL)
    target: Any = doc
    for part in where:
        target = target[part]
    target[key] = value
    assert decode(doc) == decode(FULL)


def test_reference_checks_apply_to_full_manifests_only() -> None:
    delta = copy.deepcopy(FULL)
    delta["full"] = False
    delta["assets"] = []  # items refer to assets the store already has
    delta["playlists"] = delta["playlists"][:1]
    m = decode(delta)
    assert not m.full
    assert [p.id for p in m.playlists] == ["pl-day"]


def test_an_id_both_listed_and_deleted_is_rejected() -> None:
    delta = copy.deepcopy(FULL)
    delta["full"] = False
    delta["deleted"] = {"schedules": ["sch-night"]}
    assert rejected_at(delta) == "deleted.schedules[0]"


def test_validity_window_must_not_be_empty() -> None:
    doc = copy.deepcopy(FULL)
    doc["assets"][0]["valid_from"] = "2026-12-01T00:00:00Z"
    doc["assets"][0]["valid_until"] = "2026-12-01T01:00:00+01:00"
    assert rejected_at(doc) == "assets[0].valid_until"


def test_unknown_time_zone_is_rejected() -> None:
    doc = copy.deepcopy(FULL)
    doc["device"]["timezone"] = "Mars/Olympus_Mons"
    assert rejected_at(doc) == "device.timezone"


def test_schedule_defaults_follow_the_api_defaults() -> None:
    doc = copy.deepcopy(FULL)
    for key in ("days", "start_time", "end_time", "priority"):
        del doc["schedules"][0][key]
    s = decode(doc).schedules[0]
    assert s.days == frozenset(range(1, 8))
    assert (s.start_minute, s.end_minute, s.priority) == (0, 1440, 0)


@pytest.mark.parametrize(
    "raw", [b"", b"\xff\xfe{", b"NaN", b'{"schema": NaN}', b"null", b'"manifest"']
)
def test_garbage_is_rejected_as_a_whole(raw: bytes) -> None:
    with pytest.raises(ManifestError):
        decode_manifest(raw)


PLAY = Play(
    id="6f1c1e8e-3b1a-4c39-9a43-0d5c6f1e2a10",
    asset_id="ast-song",
    sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    started_at=datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
    ended_at=datetime(2026, 12, 1, 9, 3, 30, 500_000, tzinfo=UTC),
    source=Tier.PLAYLIST,
    outcome=Outcome.COMPLETED,
    schedule_id="sch-day",
    playlist_id="pl-day",
)


def test_encode_play_follows_the_protocol() -> None:
    assert encode_play(PLAY) == {
        "id": PLAY.id,
        "asset_id": "ast-song",
        "sha256": PLAY.sha256,
        "started_at": "2026-12-01T09:00:00Z",
        "ended_at": "2026-12-01T09:03:30.500000Z",
        "source": "playlist",
        "outcome": "completed",
        "schedule_id": "sch-day",
        "playlist_id": "pl-day",
    }


def test_encode_play_leaves_out_unknown_schedule_and_playlist() -> None:
    jingle = Play(
        id="p2",
        asset_id="jingle",
        sha256=PLAY.sha256,
        started_at=PLAY.started_at,
        ended_at=PLAY.ended_at,
        source=Tier.JINGLE,
        outcome=Outcome.SKIPPED,
    )
    encoded = encode_play(jingle)
    assert "schedule_id" not in encoded
    assert "playlist_id" not in encoded
    assert encoded["outcome"] == "skipped"


def test_encode_plays_is_the_upload_body_and_bounded() -> None:
    assert encode_plays([PLAY]) == {"plays": [encode_play(PLAY)]}
    with pytest.raises(ValueError, match="at most"):
        encode_plays([PLAY] * (MAX_PLAYS_PER_UPLOAD + 1))


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_instant(datetime(2026, 1, 1))
