"""A broker-account manager that records the dynamic-security steps it is given."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from control_api.broker_accounts import ANSWER_TIMEOUT_S
from control_api.core.broker_accounts import Step
from control_api.errors import PushUnavailable


class FakeBrokerAccounts:
    """Applies nothing; records each request's commands. ``down`` makes it refuse."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []  # each request's "<command> <user or role>"
        self.down = False
        self.started = False
        self._cond = threading.Condition()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def apply(self, steps: Sequence[Step], timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        with self._cond:
            if self.down:
                raise PushUnavailable("the fake broker is down")
            self.requests.append(
                [
                    f"{s.command['command']} {s.command.get('username') or s.command['rolename']}"
                    for s in steps
                ]
            )
            self._cond.notify_all()

    def wait_for_request(self, wanted: list[str], timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: wanted in self.requests, timeout=timeout_s)
