"""The dynamic-security requests and the reading of their answers (pure rules)."""

from __future__ import annotations

import json

import pytest

from control_api.core.broker_accounts import (
    correlations_of,
    delete_steps,
    device_role,
    encode_request,
    first_failure,
    issue_steps,
)


def test_a_device_role_confines_it_to_its_own_subtree() -> None:
    create_role = issue_steps("dev_a", "pw")[1].command
    assert create_role["rolename"] == "lomuz-device-dev_a"
    assert create_role["acls"] == [
        {"acltype": "subscribePattern", "topic": "lomuz/v1/devices/dev_a/#", "allow": True},
        {
            "acltype": "publishClientSend",
            "topic": "lomuz/v1/devices/dev_a/presence",
            "allow": True,
        },
    ]


@pytest.mark.parametrize("bad", ["", "+", "#", "a/b", "x\x00"])
def test_an_id_that_cannot_name_a_topic_gets_no_role(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot name an MQTT topic"):
        device_role(bad)


def test_each_command_carries_its_correlation_and_the_answers_are_matched() -> None:
    steps = issue_steps("dev_a", "pw")
    request = json.loads(encode_request(steps, "c1"))
    assert [c["correlationData"] for c in request["commands"]] == ["c1:0", "c1:1", "c1:2"]
    answers = correlations_of(
        json.dumps(
            {
                "responses": [
                    {
                        "command": "deleteClient",
                        "error": "Client not found",
                        "correlationData": "c1:0",
                    },
                    {
                        "command": "createRole",
                        "error": "Role already exists",
                        "correlationData": "c1:1",
                    },
                    {"command": "createClient", "correlationData": "c1:2"},
                ]
            }
        ).encode()
    )
    assert first_failure(steps, "c1", answers) is None  # "already so" is fine there
    answers["c1:2"] = "Client already exists"
    assert first_failure(steps, "c1", answers) == "createClient: Client already exists"
    del answers["c1:2"]
    assert first_failure(steps, "c1", answers) == "createClient: no answer"


def test_deleting_tolerates_an_account_already_gone() -> None:
    steps = delete_steps("dev_a")
    gone = {"c:0": "Client not found", "c:1": "Role not found"}
    assert first_failure(steps, "c", gone) is None


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff",
        b"[]",
        b'{"responses": 3}',
        b'{"responses": [1, {"correlationData": 2}]}',
        b"[" * 5000,
    ],
)
def test_an_unreadable_answer_has_no_correlations(payload: bytes) -> None:
    assert correlations_of(payload) == {}
