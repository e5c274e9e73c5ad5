"""The presence wire (``lomuz_rules.push``): topic, payload, and hostile payloads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lomuz_rules.push import (
    MAX_PRESENCE_BYTES,
    PRESENCE_FILTER,
    PRESENCE_STATES,
    decode_presence,
    encode_presence,
    presence_device_id,
    presence_topic,
)


def test_presence_topic_is_in_the_device_subtree_and_matches_the_filter() -> None:
    assert presence_topic("dev_abc") == "lomuz/v1/devices/dev_abc/presence"
    assert PRESENCE_FILTER == "lomuz/v1/devices/+/presence"
    assert presence_device_id(presence_topic("dev_abc")) == "dev_abc"
    with pytest.raises(ValueError, match="MQTT topic"):
        presence_topic("a/b")


@pytest.mark.parametrize(
    "topic",
    [
        "lomuz/v1/devices//presence",
        "lomuz/v1/devices/a/b/presence",
        "lomuz/v1/devices/dev/nudge",
        "other/v1/devices/dev/presence",
        "lomuz/v1/devices/presence",
        "",
    ],
)
def test_other_topics_name_no_device(topic: str) -> None:
    assert presence_device_id(topic) is None


@pytest.mark.parametrize("state", PRESENCE_STATES)
def test_round_trip(state: str) -> None:
    payload = encode_presence(state)  # type: ignore[arg-type]
    assert json.loads(payload) == {"state": state}
    assert len(payload) <= MAX_PRESENCE_BYTES
    assert decode_presence(payload) == state


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"null",
        b"[]",
        b'"online"',
        b'{"state": "ONLINE"}',
        b'{"state": true}',
        b'{"state": ["online"]}',
        b'{"status": "online"}',
        b"\xff\xfe",
        b"[" * 50_000,
        b'{"state": "online", "pad": "' + b"x" * MAX_PRESENCE_BYTES + b'"}',
    ],
)
def test_what_is_not_presence_decodes_to_none(payload: bytes) -> None:
    assert decode_presence(payload) is None


@given(st.binary(max_size=512))
def test_hostile_bytes_never_raise(payload: bytes) -> None:
    assert decode_presence(payload) in (None, "online", "offline")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), st.lists, max_leaves=8))
def test_hostile_json_never_raises(value: object) -> None:
    payload = json.dumps({"state": value}).encode()
    assert decode_presence(payload) == (value if value in PRESENCE_STATES else None)


@given(st.text(max_size=60))
def test_hostile_topics_never_raise(topic: str) -> None:
    device_id = presence_device_id(topic)
    assert device_id is None or presence_topic(device_id) == topic
