"""The API's remote command rules: acks only move a command forward; expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core.commands import acknowledged_state, effective_state, expires_at_for
from control_api.errors import Conflict, InvalidField
from lomuz_rules.commands import ACK_STATES, COMMAND_STATES

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
RANK = {"pending": 0, "delivered": 1, "done": 2, "failed": 2}


@given(
    st.sampled_from(sorted(COMMAND_STATES - {"expired"})),
    st.lists(st.sampled_from(sorted(ACK_STATES)), max_size=6),
)
def test_acks_only_move_a_command_forward(start: str, acks: list[str]) -> None:
    state = start
    for ack in acks:
        if state in ("done", "failed") and ack in ("done", "failed") and ack != state:
            with pytest.raises(Conflict, match="already"):
                acknowledged_state(state, ack)  # type: ignore[arg-type]
            continue
        new = acknowledged_state(state, ack)  # type: ignore[arg-type]
        if new is not None:
            assert RANK[new] > RANK[state]
            state = new


def test_expiry_rules() -> None:
    assert expires_at_for(None, AT) == AT + timedelta(minutes=10)
    assert expires_at_for(AT + timedelta(hours=24), AT) == AT + timedelta(hours=24)
    for bad in (AT, AT + timedelta(hours=24, seconds=1)):
        with pytest.raises(InvalidField):
            expires_at_for(bad, AT)
    later = AT + timedelta(seconds=1)
    assert effective_state("delivered", AT, later) == "expired"
    assert effective_state("done", AT, later) == "done"
    assert effective_state("pending", AT, AT) == "pending"
    with pytest.raises(Conflict):
        acknowledged_state("expired", "done")
