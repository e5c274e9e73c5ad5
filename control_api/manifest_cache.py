"""Manifests shared by every device of one scope, kept in the process (issue 13's burst).

A push nudge sends a whole fleet to ``GET /v1/device/manifest?since=`` within
seconds, and almost every device asks for the same thing: the delta between the
same two revisions, for the same groups and timezone. The answer depends on the
device itself only through schedules and overrides that target it by id, so one
computed answer serves every device of the scope except those (the entry names
them). Entries are keyed by revision: content at one revision never changes
(every edit bumps it), so nothing here is ever stale, only unused.

Thread-safe (one lock, held only for dict operations) and bounded: past
``max_entries`` the entry used longest ago is dropped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

Content = TypeVar("Content")

# (tenant id, base revision or None for a full snapshot, revision, scope hash)
ManifestKey = tuple[str, int | None, int, str]


@dataclass(frozen=True)
class SharedManifest(Generic[Content]):
    """What every device of the scope gets, except ``device_specific`` (their own targets
    or deletions make theirs differ)."""

    content: Content
    device_specific: frozenset[str]

    def serves(self, device_id: str) -> bool:
        return device_id not in self.device_specific


class ManifestCache(Generic[Content]):
    """A small LRU of :class:`SharedManifest` by :data:`ManifestKey`; ``max_entries`` 0
    disables it."""

    def __init__(self, max_entries: int = 64) -> None:
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, SharedManifest[Content]] = OrderedDict()

    def get(self, key: ManifestKey) -> SharedManifest[Content] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: ManifestKey, entry: SharedManifest[Content]) -> None:
        if self._max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
