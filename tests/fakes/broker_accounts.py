"""A broker-account manager that records the dynamic-security steps it is given."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Literal

from control_api.broker_accounts import ANSWER_TIMEOUT_S
from control_api.core.broker_accounts import Step
from control_api.errors import PushUnavailable

Point = Literal["before", "during", "after"]


class FakeBrokerAccounts:
    """Records each request's commands and keeps the accounts they leave
    (``clients``: user name → password; ``roles``). ``down`` makes it refuse.

    :meth:`interleave` runs an action once inside the next request, to put a
    revocation (and a sweep) between an issue's steps.
    """

    def __init__(self) -> None:
        self.requests: list[list[str]] = []  # each request's "<command> <user or role>"
        self.clients: dict[str, str] = {}
        self.roles: set[str] = set()
        self.down = False
        self.started = False
        self._cond = threading.Condition()
        self._actions: dict[Point, Callable[[], None]] = {}

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def interleave(self, point: Point, action: Callable[[], None]) -> None:
        """Run ``action`` once in the next request: ``before`` its first step reaches
        the broker, ``during`` it (after the first step), or ``after`` its last step
        was applied (the caller still waiting for the answer)."""
        self._actions[point] = action

    def apply(self, steps: Sequence[Step], timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        self._run("before")
        with self._cond:
            if self.down:
                raise PushUnavailable("the fake broker is down")
            self.requests.append(
                [
                    f"{s.command['command']} {s.command.get('username') or s.command['rolename']}"
                    for s in steps
                ]
            )
        for i, step in enumerate(steps):
            if i == 1:
                self._run("during")
            with self._cond:
                self._step(step.command)
        self._run("after")
        with self._cond:
            self._cond.notify_all()

    def wait_for_request(self, wanted: list[str], timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: wanted in self.requests, timeout=timeout_s)

    def _run(self, point: Point) -> None:
        # Taken before it runs: the requests the action makes (a sweep) do not run it again.
        action = self._actions.pop(point, None)
        if action is not None:
            action()

    def _step(self, command: dict[str, object]) -> None:
        name = command["command"]
        if name == "deleteClient":
            self.clients.pop(str(command["username"]), None)
        elif name == "createClient":
            username = str(command["username"])
            if username in self.clients:
                raise PushUnavailable("createClient: Client already exists")
            self.clients[username] = str(command["password"])
        elif name == "createRole":
            self.roles.add(str(command["rolename"]))
        elif name == "deleteRole":
            self.roles.discard(str(command["rolename"]))
