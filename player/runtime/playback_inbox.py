"""What other threads put on the playback loop's inbox (besides the output's events).

The loop's thread takes them in order (``player.runtime.playback``). A
:class:`LoopCall` runs on the loop's thread wherever the loop waits, so a
caller that queued a skip and then a call knows, once the call ran, that the
skip was handled (the inbox is FIFO).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class LoopCommand:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


SKIP = LoopCommand("skip")
REEVALUATE = LoopCommand("reevaluate")
STOP = LoopCommand("stop")
RESTART = LoopCommand("restart")  # stop everything, decide afresh (remote command)
# What ends a silence or a pause: something new to decide.
WAKE = (SKIP, REEVALUATE, RESTART)


class LoopCall:
    """A function to run on the playback thread; ``wait`` for it from the caller's."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._fn()
        except Exception as exc:  # the caller's problem, never the loop's
            self.error = exc
        finally:
            self._done.set()

    def wait(self, timeout_s: float) -> bool:
        """Whether it ran within ``timeout_s``."""
        return self._done.wait(timeout_s)
