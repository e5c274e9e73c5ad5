"""Each tenant's (revision, horizon) kept in the process for a second, for the 304 path.

A poll whose cursor names the cached revision answers 304 without opening a
database session. DESIGN §4 allows such a cache to be stale for a few seconds:
another worker's edit shows up here within ``ttl_s``. Edits made through this
process call :meth:`RevisionCache.invalidate` after their commit, so they show
up at once.

Thread-safe (one lock, held only for dict operations) and bounded: past
``max_entries`` tenants the entry written longest ago is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

TenantState = tuple[int, int]  # (revision, horizon)


class RevisionCache:
    """A small TTL cache of :data:`TenantState` by tenant id; ``ttl_s`` 0 disables it."""

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[TenantState, float]] = OrderedDict()
        self._generation = 0

    def get(self, tenant_id: str) -> TenantState | None:
        """The cached state, or None when absent or older than ``ttl_s``."""
        if self._ttl_s <= 0:
            return None
        with self._lock:
            entry = self._entries.get(tenant_id)
            if entry is None:
                return None
            state, expires_at = entry
            if self._monotonic() >= expires_at:
                del self._entries[tenant_id]
                return None
            return state

    def generation(self) -> int:
        """Take this before reading the database; pass it to :meth:`put`."""
        with self._lock:
            return self._generation

    def put(self, tenant_id: str, state: TenantState, generation: int) -> None:
        """Store a state read from the database after :meth:`generation` returned ``generation``.

        Dropped when an invalidation happened since: the read may predate that commit.
        """
        if self._ttl_s <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return
            self._entries.pop(tenant_id, None)
            self._entries[tenant_id] = (state, self._monotonic() + self._ttl_s)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, tenant_id: str) -> None:
        """Forget the tenant after a commit that may have bumped its revision."""
        with self._lock:
            self._generation += 1
            self._entries.pop(tenant_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
