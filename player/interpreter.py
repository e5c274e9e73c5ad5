"""How the daemon's interpreter shares the GIL with playback.

Playback's thread needs the GIL for a few milliseconds at a time (decide the
next item, start it), and two things in the same process can keep it waiting
far longer:

- The cyclic garbage collector holds the GIL for as long as it walks the
  objects it tracks, whichever thread triggered it. The heap built at start
  (modules, SQLAlchemy, the adapters: ~80k objects, a full collection of
  30-90 ms on this machine, 5-10x that on a Pi) lives as long as the process,
  so ``tune_for_playback`` freezes it out of every later walk; a big manifest
  leaves ~200k new objects, none in a cycle, alive until it is applied, so
  ``collector_paused`` keeps the collector off while they exist and they are
  freed by reference counting without ever being walked.
- A CPU-bound thread (the syncer decoding and applying a manifest) keeps the
  GIL for the whole switch interval, 5 ms by default, each time playback gives
  it up around one SQLite call: a decision of a few dozen calls waited
  100-135 ms at p99. ``tune_for_playback`` shortens the turn to 1 ms.

Figures: docs/BENCHMARKS.md, "decide + mark started while a manifest is applied".
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator

PLAYBACK_SWITCH_INTERVAL_S = 0.001


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside; resumes as it was (nested pauses resume once, at the outermost).

    Release the big objects made inside before leaving it: what is still alive
    on resume is young and is walked by the next collection.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def tune_for_playback() -> None:
    """For the daemon's own process once it has started (not a test's: it changes the process).

    Collects once, then excludes every object alive now from all later
    collections (what exists then lives until the daemon exits), and gives
    each thread 1 ms turns of the GIL.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(PLAYBACK_SWITCH_INTERVAL_S)
