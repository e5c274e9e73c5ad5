"""The remote commands' shared rules: the message round-trips, decoding never raises and
accepts only well-typed commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lomuz_rules.commands import (
    COMMAND_TYPES,
    MAX_COMMAND_BYTES,
    CommandMessage,
    decode_command,
    encode_command,
    value_problem,
)
from lomuz_rules.push import commands_topic

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", sorted(COMMAND_TYPES))
def test_a_command_round_trips(kind: str) -> None:
    value = 7 if kind == "volume" else None
    message = CommandMessage("cmd_1", kind, value, AT)  # type: ignore[arg-type]
    assert decode_command(encode_command(message)) == message
    assert commands_topic("dev_1") == "lomuz/v1/devices/dev_1/commands"


@given(st.binary(max_size=MAX_COMMAND_BYTES + 10))
def test_decoding_bytes_never_raises(payload: bytes) -> None:
    decode_command(payload)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "type", "value", "expires_at"]), children)
    ),
    max_leaves=10,
)


@given(JSON)
def test_only_well_typed_commands_decode(data: object) -> None:
    message = decode_command(json.dumps(data).encode())
    if message is None:
        return
    assert isinstance(data, dict)
    assert message.type in COMMAND_TYPES and value_problem(message.type, message.value) is None
    assert message.expires_at.utcoffset() is not None


def test_values_are_checked_by_type() -> None:
    assert value_problem("volume", 0) is None and value_problem("volume", 100) is None
    for bad in (-1, 101, True, "50", None, 5.0):
        assert value_problem("volume", bad) is not None
    assert value_problem("skip", None) is None and value_problem("skip", 1) is not None
    too_big = b'{"id": "' + b"a" * MAX_COMMAND_BYTES + b'"}'
    assert decode_command(too_big) is None
