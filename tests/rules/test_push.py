"""The push wire shared by the API and the player: topics, nudge payloads, broker URLs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core.manifest import make_cursor
from lomuz_rules.push import (
    MAX_NUDGE_BYTES,
    BrokerAddress,
    cursor_revision,
    decode_nudge,
    encode_nudge,
    nudge_topic,
    nudge_wants_sync,
    parse_broker_url,
)


def test_topics_are_one_subtree_per_device() -> None:
    assert nudge_topic("dev_abc") == "lomuz/v1/devices/dev_abc/nudge"
    for bad in ("", "a/b", "a+", "#", "x\x00"):
        with pytest.raises(ValueError, match="MQTT topic"):
            nudge_topic(bad)


@given(st.integers(min_value=0, max_value=10**18))
def test_a_nudge_round_trips_and_stays_small(revision: int) -> None:
    payload = encode_nudge(revision)
    assert len(payload) <= MAX_NUDGE_BYTES
    assert decode_nudge(payload) == revision
    assert json.loads(payload) == {"revision": revision}


@given(st.binary(max_size=2048))
def test_any_bytes_decode_to_a_revision_or_none_never_an_error(payload: bytes) -> None:
    revision = decode_nudge(payload)
    assert revision is None or 0 <= revision <= 10**18


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=20,
    )
)
def test_wrong_json_is_no_nudge(value: object) -> None:
    payload = json.dumps(value).encode()
    revision = decode_nudge(payload)
    if revision is not None:  # only an object whose "revision" is a plain int in range
        assert isinstance(value, dict) and value["revision"] == revision
        assert not isinstance(value["revision"], bool)


def test_hostile_shapes_are_no_nudge() -> None:
    for payload in (
        b"",
        b"null",
        b'{"revision": true}',
        b'{"revision": -1}',
        b'{"revision": 1.5}',
        b'{"revision": "7"}',
        b'{"revision": 1' + b"0" * 30 + b"}",
        b"[" * 100_000,
        b'{"revision": 1, "pad": "' + b"x" * 1000 + b'"}',
        b"\xff\xfe{}",
    ):
        assert decode_nudge(payload) is None, payload[:40]


@given(st.integers(min_value=0, max_value=10**17), st.text(alphabet="0123456789abcdef"))
def test_cursor_revision_reads_what_the_api_writes(revision: int, scope: str) -> None:
    assert cursor_revision(make_cursor(revision, scope)) == revision


def test_a_nudge_wants_a_sync_only_when_newer_than_the_cursor() -> None:
    assert nudge_wants_sync(8, "7.abc")
    assert not nudge_wants_sync(7, "7.abc")  # a retained nudge seen again
    assert not nudge_wants_sync(6, "7.abc")
    assert nudge_wants_sync(1, None)  # never synced
    assert nudge_wants_sync(1, "garbage")
    assert not nudge_wants_sync(None, None)  # not a nudge


def test_broker_urls() -> None:
    assert parse_broker_url("mqtt://127.0.0.1") == BrokerAddress("127.0.0.1", 1883, False)
    tls = parse_broker_url("mqtts://dev%2F1:s%40cret@broker.example:8884/")
    assert (tls.host, tls.port, tls.tls, tls.username, tls.password) == (
        "broker.example",
        8884,
        True,
        "dev/1",
        "s@cret",
    )
    assert "s@cret" not in repr(tls) and "s@cret" not in tls.display()
    assert parse_broker_url("mqtts://[::1]").display() == "mqtts://[::1]:8883"
    for bad, why in (
        ("http://h", "mqtt://"),
        ("mqtt://", "no host"),
        ("mqtt://h:70000", "broker URL"),
        ("mqtt://h/topic", "no path"),
        ("mqtt://h?x=1", "no path"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_broker_url(bad)
    for bad in ("mqtt://broker..lan", "mqtt://" + "a" * 64 + ".lan"):
        with pytest.raises(ValueError, match="not a valid host name"):
            parse_broker_url(bad)


def _refusal(url: str) -> str | None:
    try:
        parse_broker_url(url)
    except ValueError as exc:
        return str(exc)
    return None


@given(st.text(alphabet="abcXYZ019/?#:@", min_size=1, max_size=24))
def test_a_refused_url_never_quotes_its_password(password: str) -> None:
    # "/" in a password ends the host part early and urllib reads what follows as
    # a port; its message would print it (the API's and the player's config errors).
    refusal = _refusal(f"mqtt://user:{password}@broker.example")
    if refusal is not None:
        pieces = [p for p in password.replace("/", " ").replace("?", " ").split() if len(p) >= 3]
        assert not any(p in refusal for p in pieces if p not in ("user", "broker.example"))
